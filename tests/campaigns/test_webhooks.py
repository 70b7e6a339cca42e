"""Provider webhooks, through Postmark's real payloads posted to anymail's URLs."""

import base64
import json
import logging
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client

from campaigns.checks import webhook_secret_check
from campaigns.models import Delivery, Message, ProviderEvent
from campaigns.tokens import Purpose, click_url, open_pixel_url, token_make
from campaigns.tracking import links_register
from campaigns.webhooks import unsubscribe_mailto
from config import clock
from customers.models import (
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Event,
    Suppression,
    address_hash,
)
from customers.models import SuppressionReason as Reason
from customers.selectors import customer_consents, customer_is_suppressed
from customers.services.consent import ConsentProof, consent_grant
from customers.services.erasure import customer_erase
from tests.factories import CustomerFactory, email_marketing

TRACKING = "/anymail/postmark/tracking/"
INBOUND = "/anymail/postmark/inbound/"
SECRET = "postmark:9f2c4e1b7a6d"
MESSAGE_ID = "883953f4-6105-42a2-a16a-77a8eac79483"
SIGNUP = ConsentProof(source=ConsentSource.FORM, actor="signup-form")


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def _iso(at) -> str:
    return at.isoformat().replace("+00:00", "Z")


@pytest.fixture(autouse=True)
def webhook_secret(settings):
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}


@pytest.fixture
def postmark():
    """Postmark posting webhooks: basic auth, no cookies, strict CSRF as in production."""
    client = Client(enforce_csrf_checks=True)

    def post(payload, *, path=TRACKING, auth=SECRET):
        headers = {"Authorization": _basic(auth)} if auth else {}
        return client.post(
            path, data=json.dumps(payload), content_type="application/json", headers=headers
        )

    return post


@pytest.fixture
def delivery(messages):
    customer = CustomerFactory(email="ann@example.com")
    consent_grant(customer=customer, topic=email_marketing(), proof=SIGNUP)
    message = Message.objects.get(key="m")
    return Delivery.objects.create(
        customer=customer,
        message=message,
        variant=message.variants.get(key="A"),
        status=Delivery.Status.SENT,
        sent_at=clock.now() - timedelta(days=1),
        provider_message_id=MESSAGE_ID,
    )


def _meta(delivery) -> dict:
    """What dispatch sends as anymail metadata; Postmark echoes it as strings."""
    return {"delivery_id": str(delivery.pk)}


def delivered(delivery, **fields) -> dict:
    return {
        "RecordType": "Delivery",
        "ServerID": 23,
        "MessageStream": "broadcast",
        "MessageID": MESSAGE_ID,
        "Recipient": "ann@example.com",
        "Tag": "m",
        "DeliveredAt": _iso(clock.now()),
        "Details": "Test delivery webhook details",
        "Metadata": _meta(delivery),
        **fields,
    }


def bounce(delivery, *, type="HardBounce", id=901542550, **fields) -> dict:
    return {
        "RecordType": "Bounce",
        "ID": id,
        "Type": type,
        "TypeCode": 1,
        "ServerID": 23,
        "Name": "Hard bounce",
        "MessageID": MESSAGE_ID,
        "Description": "The server was unable to deliver your message (ex: unknown user, mailbox "
        "not found).",
        "Details": "smtp;550 5.1.1 The email account that you tried to reach does not exist.",
        "Email": "ann@example.com",
        "From": "hello@ladder.localhost",
        "BouncedAt": _iso(clock.now()),
        "DumpAvailable": True,
        "Inactive": True,
        "CanActivate": True,
        "Subject": "m A",
        "Metadata": _meta(delivery),
        **fields,
    }


def complaint(delivery) -> dict:
    return bounce(delivery, type="SpamComplaint", id=901542551, RecordType="SpamComplaint")


def opened(delivery, **fields) -> dict:
    return {
        "RecordType": "Open",
        "FirstOpen": True,
        "Client": {"Name": "Gmail", "Company": "Google", "Family": "Gmail"},
        "OS": {"Name": "unknown", "Company": "unknown", "Family": "unknown"},
        "Platform": "Unknown",
        "UserAgent": "Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0",
        "ReadSeconds": 0,
        "Geo": {},
        "MessageID": MESSAGE_ID,
        "ReceivedAt": _iso(clock.now()),
        "Recipient": "ann@example.com",
        "Metadata": _meta(delivery),
        **fields,
    }


def clicked(delivery, link: str, **fields) -> dict:
    return {
        "RecordType": "Click",
        "ClickLocation": "HTML",
        "Platform": "Desktop",
        "UserAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_7_5) etc.",
        "OriginalLink": link,
        "Geo": {"IP": "8.8.8.8"},
        "MessageID": MESSAGE_ID,
        "ReceivedAt": _iso(clock.now()),
        "Tag": "m",
        "Recipient": "ann@example.com",
        "Metadata": _meta(delivery),
        **fields,
    }


def subscription_change(delivery, *, suppress=True, reason="ManualSuppression") -> dict:
    return {
        "RecordType": "SubscriptionChange",
        "MessageID": MESSAGE_ID,
        "ServerID": 23,
        "MessageStream": "broadcast",
        "ChangedAt": _iso(clock.now()),
        "Recipient": "ann@example.com",
        "Origin": "Recipient",
        "SuppressSending": suppress,
        "SuppressionReason": reason if suppress else None,
        "Tag": "m",
        "Metadata": _meta(delivery),
    }


def inbound_mail(subject: str, message_id="22c74902-a0c1-4511-804f-341342852c90") -> dict:
    return {
        "FromFull": {"Email": "ann@example.com", "Name": "Ann", "MailboxHash": ""},
        "ToFull": [{"Email": settings.LADDER_UNSUBSCRIBE_MAILBOX, "Name": "", "MailboxHash": ""}],
        "OriginalRecipient": settings.LADDER_UNSUBSCRIBE_MAILBOX,
        "Subject": subject,
        "MessageID": message_id,
        "Date": "Wed, 11 Oct 2017 18:31:04 -0700",
        "TextBody": "This message was automatically generated by Gmail.",
        "HtmlBody": "",
        "StrippedTextReply": "",
        "Tag": "",
        "Headers": [
            {"Name": "Return-Path", "Value": "<ann@example.com>"},
            {"Name": "Message-ID", "Value": "<CAEPk3R+4Zr@mail.example.com>"},
        ],
    }


def _names(customer) -> list[str]:
    return sorted(Event.objects.filter(customer=customer).values_list("name", flat=True))


def _snapshot(delivery) -> tuple:
    """Everything a webhook may change, to show that one changed nothing."""
    delivery.refresh_from_db()
    return (
        delivery.status,
        delivery.delivered_at,
        delivery.bounced_at,
        delivery.complained_at,
        delivery.unsubscribed_at,
        delivery.error,
        Event.objects.count(),
        Suppression.objects.count(),
        ConsentRecord.objects.count(),
    )


# --- Delivered and bounced ----------------------------------------------------------


def test_it_marks_the_delivery_delivered_and_records_email_delivered(postmark, delivery):
    response = postmark(delivered(delivery))
    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED
    assert delivery.delivered_at is not None
    [event] = Event.objects.filter(name="email_delivered")
    assert event.customer == delivery.customer
    assert event.properties == {
        "delivery_id": delivery.pk,
        "message": "m",
        "variant": "A",
        "provider": "postmark",
    }
    assert event.idempotency_key.startswith("webhook:postmark:derived:")
    assert ProviderEvent.objects.filter(provider="postmark").count() == 1


def test_it_finds_the_delivery_by_the_provider_message_id_without_metadata(postmark, delivery):
    payload = delivered(delivery)
    del payload["Metadata"]
    assert postmark(payload).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED


def test_a_delivered_webhook_resolves_an_unknown_delivery(postmark, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.UNKNOWN)
    postmark(delivered(delivery))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.DELIVERED


def test_a_hard_bounce_bounces_the_delivery_and_suppresses_the_address(postmark, delivery):
    assert postmark(bounce(delivery)).status_code == 200
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.bounced_at is not None
    assert "unknown user" in delivery.error
    assert customer_is_suppressed(delivery.customer)
    assert Suppression.objects.get().reason == Reason.HARD_BOUNCE
    [event] = Event.objects.filter(name="email_bounced")
    assert event.idempotency_key == "webhook:postmark:901542550"
    assert (event.properties["hard"], event.properties["reason"]) == (True, "bounced")


def test_a_bounce_after_delivered_still_bounces(postmark, delivery):
    postmark(delivered(delivery))
    postmark(bounce(delivery))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.delivered_at is not None
    assert _names(delivery.customer) == ["email_bounced", "email_delivered"]


def test_a_late_delivered_after_a_bounce_changes_nothing(postmark, delivery):
    postmark(bounce(delivery))
    before = _snapshot(delivery)
    assert postmark(delivered(delivery)).status_code == 200
    assert _snapshot(delivery) == before
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.delivered_at is None
    assert not Event.objects.filter(name="email_delivered").exists()


def test_a_soft_bounce_bounces_the_delivery_but_does_not_suppress(postmark, delivery):
    # anymail normalizes Postmark's SoftBounce like a hard one ("bounced"/"bounced").
    postmark(bounce(delivery, type="SoftBounce", TypeCode=4096, Inactive=False))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED
    assert delivery.error.startswith("Soft bounce")
    assert not customer_is_suppressed(delivery.customer)
    [event] = Event.objects.filter(name="email_bounced")
    assert event.properties["hard"] is False


def test_a_hard_bounce_after_a_soft_one_still_suppresses(postmark, delivery):
    postmark(bounce(delivery, type="SoftBounce", id=1))
    postmark(bounce(delivery, type="HardBounce", id=2))
    assert customer_is_suppressed(delivery.customer)
    # One bounce per delivery for journeys and reports: the first that moved the status.
    assert Event.objects.filter(name="email_bounced").count() == 1


def test_a_deferral_changes_nothing(postmark, delivery):
    before = _snapshot(delivery)
    assert postmark(bounce(delivery, type="Transient", TypeCode=2)).status_code == 200
    assert _snapshot(delivery) == before
    assert delivery.status == Delivery.Status.SENT


def test_a_bad_address_fails_the_delivery_and_suppresses_it_as_invalid(postmark, delivery):
    postmark(bounce(delivery, type="BadEmailAddress", TypeCode=100000))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.FAILED
    assert Suppression.objects.get().reason == Reason.INVALID
    [event] = Event.objects.filter(name="email_bounced")
    assert event.properties["rejected"] is True


def test_it_suppresses_the_address_that_bounced_not_the_customers_new_one(postmark, delivery):
    postmark(bounce(delivery, Email="Old.Address@Example.com"))
    assert not customer_is_suppressed(delivery.customer)
    assert Suppression.objects.get().address_hash == address_hash("old.address@example.com")


# --- Complaints and unsubscribes ------------------------------------------------------


def test_a_complaint_suppresses_and_withdraws_the_topic(postmark, delivery):
    assert postmark(complaint(delivery)).status_code == 200
    customer = delivery.customer
    delivery.refresh_from_db()
    assert delivery.complained_at is not None
    assert delivery.status == Delivery.Status.SENT
    assert Suppression.objects.get().reason == Reason.COMPLAINT
    assert customer_consents(customer) == {"email_marketing": "withdrawn"}
    record = customer.consent_records.get(status=ConsentStatus.WITHDRAWN)
    assert (record.source, record.actor, record.text) == (
        ConsentSource.UNSUBSCRIBE,
        "customer",
        "Spam complaint reported by postmark",
    )
    assert _names(customer) == ["email_complained"]
    # Not an unsubscribe of the delivery: complaint and unsubscribe rates differ.
    assert delivery.unsubscribed_at is None


def test_a_second_report_of_the_same_complaint_records_nothing_more(postmark, delivery):
    postmark(complaint(delivery))
    before = _snapshot(delivery)
    postmark(subscription_change(delivery, reason="SpamComplaint"))
    assert _snapshot(delivery) == before


def test_an_unsubscribe_withdraws_the_topic_like_the_one_click_link(postmark, delivery):
    assert postmark(subscription_change(delivery)).status_code == 200
    customer = delivery.customer
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    assert customer_consents(customer) == {"email_marketing": "withdrawn"}
    record = customer.consent_records.get(status=ConsentStatus.WITHDRAWN)
    assert record.text == "Unsubscribe reported by postmark"
    [event] = Event.objects.filter(name="email_unsubscribed")
    # The one-click link's key: one unsubscribe per delivery whichever way it came.
    assert event.idempotency_key == f"delivery:{delivery.pk}:unsubscribe:topic"
    assert not customer_is_suppressed(customer)


def test_a_resubscribe_at_the_provider_grants_nothing(postmark, delivery):
    postmark(subscription_change(delivery))
    before = _snapshot(delivery)
    postmark(subscription_change(delivery, suppress=False))
    assert _snapshot(delivery) == before
    assert customer_consents(delivery.customer) == {"email_marketing": "withdrawn"}


# --- Opens and clicks ---------------------------------------------------------------


def test_a_provider_open_and_ladders_pixel_make_one_email_opened(client, postmark, delivery):
    assert postmark(opened(delivery)).status_code == 200
    [event] = Event.objects.filter(name="email_opened")
    assert event.idempotency_key == f"delivery:{delivery.pk}:open"
    assert (event.properties["provider"], event.properties["machine"]) == ("postmark", False)
    delivery.refresh_from_db()
    # The delivery's counters are Ladder's own pixel's.
    assert (delivery.opened_at, delivery.open_count) == (None, 0)

    client.get(open_pixel_url(delivery.pk).removeprefix(settings.LADDER_SITE_URL))
    delivery.refresh_from_db()
    assert delivery.open_count == 1
    assert Event.objects.filter(name="email_opened").count() == 1


def test_a_provider_open_right_after_sending_is_a_machine(postmark, delivery):
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=clock.now() - timedelta(seconds=2))
    postmark(opened(delivery))
    [event] = Event.objects.filter(name="email_opened")
    assert event.properties["machine"] is True
    assert event.idempotency_key.endswith(":open:machine")


def test_a_provider_click_on_ladders_redirect_and_the_redirect_make_one_click(
    client, postmark, delivery
):
    [link] = links_register(variant_id=delivery.variant_id, urls=["https://shop.example.com/"])
    tracked = click_url(delivery.pk, link)
    assert postmark(clicked(delivery, tracked)).status_code == 200
    [event] = Event.objects.filter(name="email_clicked")
    assert event.idempotency_key == f"delivery:{delivery.pk}:click:{link}"
    assert event.properties["url"] == "https://shop.example.com/"
    delivery.refresh_from_db()
    assert (delivery.clicked_at, delivery.click_count) == (None, 0)

    response = client.get(tracked.removeprefix(settings.LADDER_SITE_URL))
    assert response.status_code == 302
    delivery.refresh_from_db()
    assert delivery.click_count == 1
    assert Event.objects.filter(name="email_clicked").count() == 1


def test_a_provider_click_on_a_link_ladder_does_not_track_is_its_own_event(postmark, delivery):
    postmark(clicked(delivery, "https://example.com/click/me"))
    [event] = Event.objects.filter(name="email_clicked")
    assert event.idempotency_key.startswith("webhook:postmark:derived:")
    assert event.properties["url"] == "https://example.com/click/me"


def test_a_provider_click_on_another_deliverys_redirect_is_not_taken_for_this_one(
    postmark, delivery
):
    [link] = links_register(variant_id=delivery.variant_id, urls=["https://shop.example.com/"])
    postmark(clicked(delivery, click_url(delivery.pk + 1000, link)))
    [event] = Event.objects.filter(name="email_clicked")
    assert event.idempotency_key.startswith("webhook:postmark:")


def _ladder_click(delivery) -> dict:
    [link] = links_register(variant_id=delivery.variant_id, urls=["https://shop.example.com/"])
    return clicked(delivery, click_url(delivery.pk, link))


@pytest.mark.parametrize(
    "payload",
    [delivered, bounce, complaint, opened, subscription_change, _ladder_click],
    ids=lambda payload: payload.__name__.strip("_"),
)
def test_a_webhook_reads_only_what_it_loaded_with_the_delivery(
    postmark, delivery, lazy_loads, payload
):
    assert postmark(payload(delivery)).status_code == 200
    assert Event.objects.filter(customer=delivery.customer).exists()
    assert lazy_loads == []


# --- Once, and only for deliveries Ladder knows ------------------------------------------


def test_a_duplicate_event_changes_nothing(postmark, delivery):
    postmark(bounce(delivery))
    # Even with the delivery put back as it was, the replay is recognised by its id.
    Delivery.objects.filter(pk=delivery.pk).update(status=Delivery.Status.SENT, error="")
    before = _snapshot(delivery)
    assert postmark(bounce(delivery)).status_code == 200
    assert _snapshot(delivery) == before
    assert ProviderEvent.objects.count() == 1


def test_a_repeated_event_without_an_id_is_recognised_too(postmark, delivery):
    payload = opened(delivery)
    postmark(payload)
    postmark(payload)
    assert ProviderEvent.objects.count() == 1
    assert Event.objects.count() == 1


def test_an_unknown_delivery_gets_200_and_changes_nothing(postmark, delivery, caplog):
    payload = bounce(delivery, MessageID="00000000-0000-0000-0000-000000000000")
    payload["Metadata"] = {"delivery_id": str(delivery.pk + 1000)}
    before = _snapshot(delivery)
    with caplog.at_level(logging.WARNING, logger="campaigns.webhooks"):
        response = postmark(payload)
    assert response.status_code == 200
    assert _snapshot(delivery) == before
    assert "names no delivery Ladder knows" in caplog.text
    # Seen, so a retry is a duplicate.
    assert ProviderEvent.objects.filter(event_id="901542550").exists()


@pytest.mark.parametrize("value", ["abc", "1 OR 1=1", "-1", "0", "1.0", "\u0661", ""])
def test_a_delivery_id_that_is_not_an_int_is_ignored(postmark, delivery, value):
    payload = bounce(delivery, MessageID="00000000-0000-0000-0000-000000000000")
    payload["Metadata"] = {"delivery_id": value}
    before = _snapshot(delivery)
    assert postmark(payload).status_code == 200
    assert _snapshot(delivery) == before


def test_a_bad_delivery_id_falls_back_to_the_message_id(postmark, delivery):
    postmark(bounce(delivery, Metadata={"delivery_id": f"{delivery.pk}abc"}))
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.BOUNCED


def test_events_about_an_erased_customer_are_ignored(postmark, delivery):
    customer_erase(customer=delivery.customer)
    before = _snapshot(delivery)
    assert postmark(complaint(delivery)).status_code == 200
    assert _snapshot(delivery) == before


# --- The secret ----------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, "postmark:wrong", "someone:9f2c4e1b7a6d"])
def test_a_missing_or_wrong_secret_is_refused_and_changes_nothing(postmark, delivery, auth):
    before = _snapshot(delivery)
    response = postmark(bounce(delivery), auth=auth)
    assert response.status_code == 400
    assert _snapshot(delivery) == before
    assert not ProviderEvent.objects.exists()


@pytest.mark.parametrize("secret", [None, "", []])
def test_without_a_configured_secret_the_webhooks_do_not_exist(
    settings, postmark, delivery, secret
):
    settings.ANYMAIL = {} if secret is None else {"WEBHOOK_SECRET": secret}
    before = _snapshot(delivery)
    for path in (TRACKING, INBOUND):
        assert postmark(bounce(delivery), path=path).status_code == 404
        assert postmark(bounce(delivery), path=path, auth=None).status_code == 404
    assert _snapshot(delivery) == before
    assert not ProviderEvent.objects.exists()


def test_a_rotated_secret_accepts_old_and_new(settings, postmark, delivery):
    settings.ANYMAIL = {"WEBHOOK_SECRET": ["postmark:new-secret", SECRET]}
    assert postmark(delivered(delivery), auth="postmark:new-secret").status_code == 200
    assert postmark(bounce(delivery), auth=SECRET).status_code == 200


def test_production_refuses_to_run_without_a_secret(settings):
    settings.ANYMAIL = {}
    settings.PRODUCTION = True
    [error] = webhook_secret_check()
    assert error.id == "campaigns.E001"
    assert error.level == 40  # ERROR


def test_development_warns_without_a_secret_once_a_provider_is_configured(settings):
    settings.ANYMAIL = {}
    settings.PRODUCTION = False
    assert webhook_secret_check() == []
    settings.EMAIL_BACKEND = "anymail.backends.postmark.EmailBackend"
    [warning] = webhook_secret_check()
    assert warning.id == "campaigns.W001"


def test_the_check_passes_with_a_secret_and_asks_for_user_and_password(settings):
    settings.PRODUCTION = True
    assert webhook_secret_check() == []
    settings.ANYMAIL = {"WEBHOOK_SECRET": "no-colon"}
    [warning] = webhook_secret_check()
    assert warning.id == "campaigns.W002"


# --- The List-Unsubscribe mailbox (inbound) ---------------------------------------------


def _subject(delivery) -> str:
    mailto = unsubscribe_mailto(delivery.pk)
    assert mailto.startswith(f"mailto:{settings.LADDER_UNSUBSCRIBE_MAILBOX}?subject=")
    return mailto.partition("?subject=")[2]


def test_a_mail_to_the_unsubscribe_mailbox_withdraws_consent(postmark, delivery):
    response = postmark(inbound_mail(_subject(delivery)), path=INBOUND)
    assert response.status_code == 200
    customer = delivery.customer
    assert customer_consents(customer) == {"email_marketing": "withdrawn"}
    record = customer.consent_records.get(status=ConsentStatus.WITHDRAWN)
    assert (record.source, record.actor) == (ConsentSource.UNSUBSCRIBE, "customer")
    assert "mailto" in record.text
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    assert Event.objects.get(name="email_unsubscribed").properties["scope"] == "topic"


def test_a_mail_client_that_prefixes_the_subject_still_unsubscribes(postmark, delivery):
    postmark(inbound_mail("Fwd: " + _subject(delivery)), path=INBOUND)
    assert customer_consents(delivery.customer) == {"email_marketing": "withdrawn"}


@pytest.mark.parametrize(
    "tamper",
    [
        lambda subject: subject[:-1] + ("A" if subject[-1] != "A" else "B"),
        lambda subject: subject.replace("unsubscribe-", "unsubscribe-x"),
        # A real token, but made for the open pixel:
        lambda subject: "unsubscribe-" + token_make(Purpose.OPEN, 1),
    ],
)
def test_a_tampered_token_does_nothing(postmark, delivery, tamper):
    before = _snapshot(delivery)
    response = postmark(inbound_mail(tamper(_subject(delivery))), path=INBOUND)
    assert response.status_code == 200
    assert _snapshot(delivery) == before
    assert customer_consents(delivery.customer) == {"email_marketing": "granted"}


def test_other_mail_to_the_mailbox_is_ignored(postmark, delivery):
    before = _snapshot(delivery)
    assert postmark(inbound_mail("Re: your newsletter"), path=INBOUND).status_code == 200
    assert _snapshot(delivery) == before
    assert not ProviderEvent.objects.exists()


def test_the_same_inbound_mail_twice_unsubscribes_once(postmark, delivery):
    payload = inbound_mail(_subject(delivery))
    postmark(payload, path=INBOUND)
    before = _snapshot(delivery)
    postmark(payload, path=INBOUND)
    assert _snapshot(delivery) == before
    assert ProviderEvent.objects.count() == 1
