"""Dispatch through a provider's real HTTP API client: anymail's Postmark backend
(one call per message) and Ladder's batch backend (500 per call), both against
the fake Postmark API of bench/sinks over real HTTP on loopback."""

import re

import pytest
from django.test import Client

from bench.sinks.postmark import PostmarkSink
from campaigns.dispatch import dispatch_batch
from campaigns.models import Delivery, Message
from customers.models import Suppression, SuppressionReason, address_hash
from tests.campaigns.samples import NEWSLETTER_HTML, NEWSLETTER_SUBJECT
from tests.factories import consented_customer, queued

BACKENDS = {
    "anymail": "anymail.backends.postmark.EmailBackend",
    "batch": "campaigns.backends.postmark_batch.EmailBackend",
}


@pytest.fixture(params=list(BACKENDS))
def sink(request, settings, messages):
    settings.EMAIL_BACKEND = BACKENDS[request.param]
    settings.LADDER_SENDERS = ["Example Shop <news@shop.example.com>"]
    settings.LADDER_FREQUENCY_CAP_PER_DAY = settings.LADDER_FREQUENCY_CAP_PER_WEEK = None
    Message.objects.get(key="m").variants.update(
        subject=NEWSLETTER_SUBJECT, html_body=NEWSLETTER_HTML
    )
    with PostmarkSink() as running:
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": running.token, "POSTMARK_API_URL": running.url}
        yield running


def test_what_arrives_is_the_personal_tracked_email(sink):
    ada = consented_customer(first_name="Ada", attributes={"city": "Lyon"})
    (delivery,) = queued([ada])

    assert dispatch_batch().sent == 1

    (received,) = sink.messages()
    delivery.refresh_from_db()
    assert delivery.provider_message_id and delivery.status == Delivery.Status.SENT
    assert received["From"] == "Example Shop <news@shop.example.com>"
    assert ada.email in received["To"]
    assert received["Subject"] == "Ada, your picks are in"
    assert "Lyon" in received["HtmlBody"] and "Lyon" in received["TextBody"]
    assert received["Metadata"] == {
        "delivery_id": str(delivery.pk),
        "message": "m",
        "variant": delivery.variant.key,
    }
    assert received["Tag"] == "m"  # Postmark takes one tag: the message key
    headers = {h["Name"]: h["Value"] for h in received["Headers"]}
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "mailto:" in headers["List-Unsubscribe"] and "/t/u/" in headers["List-Unsubscribe"]
    assert headers["Message-ID"].startswith("<ladder.")
    click = re.search(r'href="https?://[^"]+(/t/c/[^"]+)"', received["HtmlBody"])[1]
    assert Client().get(click)["Location"].startswith("https://shop.example.com/")


def test_a_batch_of_many_goes_out_once_each(sink):
    customers = [consented_customer() for _ in range(120)]
    queued(customers)
    assert dispatch_batch().sent == 120
    received = sink.messages()
    ids = [m["Metadata"]["delivery_id"] for m in received]
    assert len(ids) == len(set(ids)) == 120
    assert sink.snapshot()["connections"] == 1  # one connection for the batch


def test_throttling_retries_after_the_providers_wait(sink):
    rows = queued([consented_customer() for _ in range(3)])
    sink.fail(429, retry_after=90)
    report = dispatch_batch()
    assert report.sent == 0 and report.retried == 3
    for row in rows:
        row.refresh_from_db()
        assert row.status == Delivery.Status.QUEUED
        assert (row.next_attempt_at - row.updated_at).total_seconds() >= 90
    assert sink.messages() == []


def test_an_inactive_recipient_fails_and_is_suppressed_the_rest_go_out(sink):
    inactive = consented_customer(email="inactive@example.com")
    fine = consented_customer()
    inactive_row, fine_row = queued([inactive, fine])
    dispatch_batch()
    inactive_row.refresh_from_db()
    assert inactive_row.status == Delivery.Status.FAILED
    suppression = Suppression.objects.get(address_hash=address_hash(inactive.email))
    assert suppression.reason == SuppressionReason.HARD_BOUNCE
    assert Delivery.objects.get(pk=fine_row.pk).status == Delivery.Status.SENT


def test_a_proxy_named_in_the_environment_carries_the_calls(sink, settings, monkeypatch):
    """The session reads the environment once per batch (dispatch/sessions.py), and
    still goes through its proxy: the API host does not resolve, only the proxy
    (the sink, which answers absolute-form requests) can take the message."""
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_API_URL": "http://postmark.invalid/"}
    monkeypatch.setenv("HTTP_PROXY", sink.url)
    queued([consented_customer()])
    assert dispatch_batch().sent == 1
    assert len(sink.messages()) == 1


def test_no_proxy_in_the_environment_still_bypasses_the_proxy(sink, settings, monkeypatch):
    settings.ANYMAIL = {**settings.ANYMAIL, "POSTMARK_API_URL": "http://postmark.invalid/"}
    monkeypatch.setenv("HTTP_PROXY", sink.url)
    monkeypatch.setenv("NO_PROXY", "postmark.invalid")
    (row,) = queued([consented_customer()])
    report = dispatch_batch()
    assert report.sent == 0 and report.retried == 1  # straight to the host, which is not there
    row.refresh_from_db()
    assert row.status == Delivery.Status.QUEUED
    assert sink.messages() == []
