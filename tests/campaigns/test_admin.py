"""The outbox is visible, read-only, in the admin."""

from campaigns.models import Delivery, Message, Variant
from tests.factories import CustomerFactory, email_marketing


def test_the_delivery_list_shows_tracking_columns(admin_client, db):
    message = Message.objects.create(key="m", name="M", topic=email_marketing())
    variant = Variant.objects.create(message=message, key="A", subject="s", html_body="x")
    Delivery.objects.create(
        customer=CustomerFactory(email="ann@example.com"), message=message, variant=variant
    )
    page = admin_client.get("/admin/campaigns/delivery/").content.decode()
    assert "ann@example.com" in page and "Opened at" in page and "Sent at" in page
    assert admin_client.get("/admin/campaigns/delivery/add/").status_code == 403
