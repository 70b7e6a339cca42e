"""Topics are data; every installation starts with ``email_marketing``."""

from django.db import migrations


def create_topic(apps, schema_editor):
    Topic = apps.get_model("customers", "Topic")
    Topic.objects.get_or_create(
        key="email_marketing",
        defaults={
            "name": "Email marketing",
            "description": "News, offers and recommendations by email.",
        },
    )


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]

    operations = [migrations.RunPython(create_topic, migrations.RunPython.noop)]
