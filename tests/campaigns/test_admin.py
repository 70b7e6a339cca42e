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


def _message_form(**variant) -> dict:
    return {
        "key": "welcome",
        "name": "Welcome",
        "topic": email_marketing().pk,
        "variants-TOTAL_FORMS": "1",
        "variants-INITIAL_FORMS": "0",
        "variants-MIN_NUM_FORMS": "0",
        "variants-MAX_NUM_FORMS": "1000",
        "variants-0-key": "A",
        "variants-0-weight": "1",
        "variants-0-subject": "Hi",
        "variants-0-preheader": "",
        "variants-0-text_body": "",
        **{f"variants-0-{k}": v for k, v in variant.items()},
    }


def test_a_variant_with_a_broken_template_is_refused_with_its_line(admin_client, db):
    form = _message_form(html_body="<p>Hello</p>\n<p>{{ customer.first_name }</p>")
    response = admin_client.post("/admin/campaigns/message/add/", form)
    assert response.status_code == 200
    assert "html, line 2" in response.content.decode()
    assert not Message.objects.exists()


def test_a_valid_variant_is_saved(admin_client, db):
    form = _message_form(html_body="<p>Hello {{ customer.first_name }}</p>")
    response = admin_client.post("/admin/campaigns/message/add/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    assert Variant.objects.get().subject == "Hi"


def _unknown_delivery(**fields) -> Delivery:
    message = Message.objects.create(key="u", name="U", topic=email_marketing())
    variant = Variant.objects.create(message=message, key="A", subject="s", html_body="x")
    return Delivery.objects.create(
        customer=CustomerFactory(), message=message, variant=variant, **fields
    )


def test_unknown_deliveries_are_reported_and_resolved_only_by_a_person(admin_client, db):
    from django.utils import timezone

    unknown = _unknown_delivery(status=Delivery.Status.UNKNOWN, handed_at=timezone.now())
    page = admin_client.get("/admin/campaigns/delivery/").content.decode()
    assert "1 deliveries are" in page and "status__exact=unknown" in page

    response = admin_client.post(
        "/admin/campaigns/delivery/",
        {"action": "queue_again", "_selected_action": [unknown.pk]},
        follow=True,
    )
    assert "1 deliveries updated" in response.content.decode()
    unknown.refresh_from_db()
    assert unknown.status == Delivery.Status.QUEUED
    assert unknown.next_attempt_at is None and unknown.lease_until is None


def test_mark_sent_changes_only_unknown_deliveries(admin_client, db):
    from django.utils import timezone

    handed = timezone.now()
    unknown = _unknown_delivery(status=Delivery.Status.UNKNOWN, handed_at=handed)
    failed = Delivery.objects.create(
        customer=CustomerFactory(),
        message=unknown.message,
        variant=unknown.variant,
        status=Delivery.Status.FAILED,
    )
    admin_client.post(
        "/admin/campaigns/delivery/",
        {"action": "mark_sent", "_selected_action": [unknown.pk, failed.pk]},
    )
    unknown.refresh_from_db()
    failed.refresh_from_db()
    assert (unknown.status, unknown.sent_at) == (Delivery.Status.SENT, handed)
    assert failed.status == Delivery.Status.FAILED


def test_a_message_can_only_use_a_verified_sender(admin_client, db, settings):
    settings.LADDER_SENDERS = ["Shop <news@shop.example.com>"]
    form = _message_form(html_body="<p>Hi</p>")
    response = admin_client.post(
        "/admin/campaigns/message/add/", {**form, "sender": "ceo@elsewhere.example"}
    )
    assert response.status_code == 200
    assert not Message.objects.filter(key="welcome").exists()
    response = admin_client.post(
        "/admin/campaigns/message/add/",
        {**form, "sender": "Shop <news@shop.example.com>", "reply_to": "help@shop.example.com"},
    )
    assert response.status_code == 302
    assert Message.objects.get(key="welcome").sender == "Shop <news@shop.example.com>"


def test_a_variant_is_previewed_for_a_chosen_customer_and_sent_as_a_test(
    admin_client, messages, mailoutbox
):
    message = Message.objects.get(key="m")
    ann = CustomerFactory(first_name="Ann", email="ann@example.com")
    url = f"/admin/campaigns/message/{message.pk}/preview/"
    change_page = admin_client.get(f"/admin/campaigns/message/{message.pk}/change/")
    assert f"{url}?variant=B" in change_page.content.decode()

    page = admin_client.get(url, {"variant": "B", "customer": "ann@example.com"})
    assert page.status_code == 200
    body = page.content.decode()
    assert "Subject: m B" in body and "Hi Ann" in body
    assert mailoutbox == []

    missing = admin_client.get(url, {"variant": "B", "customer": "nobody@example.com"})
    assert "There is no customer" in missing.content.decode()

    admin_client.post(url, {"variant": "B", "customer": str(ann.pk), "to": "qa@example.com"})
    (test,) = mailoutbox
    assert test.to == ["qa@example.com"] and test.subject == "[TEST] m B"
    bad = admin_client.post(url, {"variant": "B", "customer": str(ann.pk), "to": "not an address"})
    assert "Enter a valid email address" in bad.content.decode()
    assert len(mailoutbox) == 1
