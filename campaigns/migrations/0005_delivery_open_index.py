# Hand-edited before it ever landed: partial indexes on the deliveries still in play.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('campaigns', '0004_conversions'),
        ('customers', '0006_lifecycle'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='delivery',
            name='campaigns_d_status_3386d9_idx',
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status', 'queued')), fields=['id'], name='delivery_queued'),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(condition=models.Q(('status__in', ['sending', 'unknown'])), fields=['status', 'handed_at'], name='delivery_in_doubt'),
        ),
    ]
