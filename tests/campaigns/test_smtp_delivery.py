"""End to end through a real SMTP server on loopback (aiosmtpd): what arrives is a
well-formed multipart email with the customer's data, working tracked links, and
a one-click unsubscribe that a mail client's POST honours."""

import re
from decimal import Decimal
from urllib.parse import urlsplit

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone

from campaigns.dispatch import dispatch_batch
from campaigns.models import Delivery, Message
from customers.models import Consent, ConsentStatus, Event, Suppression, address_hash
from tests.campaigns.samples import NEWSLETTER_HTML, NEWSLETTER_SUBJECT
from tests.factories import EventFactory, consented_customer, queued
from tests.smtp_sink import smtp_sink


@pytest.fixture
def smtp(settings, messages):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_USE_TLS = False
    settings.LADDER_SENDERS = ["Example Shop <news@shop.example.com>"]
    settings.LADDER_FREQUENCY_CAP_PER_DAY = settings.LADDER_FREQUENCY_CAP_PER_WEEK = None
    message = Message.objects.get(key="m")
    message.variants.update(subject=NEWSLETTER_SUBJECT, html_body=NEWSLETTER_HTML, text_body="")
    with smtp_sink() as (sink, port):
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        yield sink


def _customer_with_purchases(**fields):
    customer = consented_customer(
        first_name="Ada", last_name="Byron", attributes={"city": "Lyon", "vip": True}, **fields
    )
    for number in range(3):
        EventFactory(
            customer=customer,
            name="purchase",
            properties={
                "product": f"Teapot {number}",
                "url": f"https://shop.example.com/p/{number}",
            },
            value=Decimal("20.00") + number,
            currency="EUR",
            occurred_at=timezone.now(),
        )
    return customer


def _links(html: str) -> list[str]:
    return re.findall(r'href="([^"]+)"', html)


def _path(url: str) -> str:
    assert url.startswith(django_settings.LADDER_SITE_URL)
    return urlsplit(url).path


def test_the_email_arrives_whole_personal_and_working(smtp):
    ada = _customer_with_purchases()
    (delivery,) = queued([ada])

    assert dispatch_batch().sent == 1

    (received,) = smtp.messages
    # Well-formed multipart/alternative: text first, then HTML, both UTF-8.
    assert received.get_content_type() == "multipart/alternative"
    text_part, html_part = received.iter_parts()
    assert text_part.get_content_type() == "text/plain"
    assert html_part.get_content_type() == "text/html"
    assert not received.defects and not text_part.defects and not html_part.defects
    html, text = html_part.get_content(), text_part.get_content()

    assert received["Subject"] == "Ada, your picks are in"
    assert received["From"] == "Example Shop <news@shop.example.com>"
    assert received["To"].addresses[0].addr_spec == ada.email
    assert received["To"].addresses[0].display_name == "Ada Byron"
    assert re.fullmatch(r"<ladder\.\d+\.[0-9a-f]{16}@shop\.example\.com>", received["Message-ID"])
    assert received["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    https, mailto = (part.strip("<> ") for part in received["List-Unsubscribe"].split(","))
    assert https.startswith("http") and mailto.startswith("mailto:")

    # Personal data from the profile and the purchase history, in both parts.
    for part in (html, text):
        assert "Ada" in part and "Lyon" in part and "Teapot 2" in part
    assert "VIP" in html

    # Every web link in the body is tracked and leads to its stored target.
    client = Client()
    tracked = [url for url in _links(html) if "/t/c/" in url]
    assert len(tracked) >= 4
    targets = {client.get(_path(url))["Location"] for url in tracked}
    assert {"https://shop.example.com/p/0", "https://shop.example.com/p/2"} <= targets
    assert all(urlsplit(t).netloc == "shop.example.com" for t in targets)
    delivery.refresh_from_db()
    assert delivery.status == Delivery.Status.SENT

    # The open pixel answers with an image.
    pixel = re.search(r'src="([^"]+/t/o/[^"]+)"', html)[1]
    assert client.get(_path(pixel))["Content-Type"] == "image/gif"

    # GET shows a page and changes nothing; the client's one-click POST (no
    # cookies, no CSRF token) unsubscribes.
    assert client.get(_path(https)).status_code == 200
    assert Consent.objects.get(customer=ada).status == ConsentStatus.GRANTED
    mail_client = Client(enforce_csrf_checks=True)
    response = mail_client.post(
        _path(https), "List-Unsubscribe=One-Click", content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 200
    assert Consent.objects.get(customer=ada).status == ConsentStatus.WITHDRAWN
    assert Event.objects.filter(customer=ada, name="email_unsubscribed").count() == 1


def test_a_batch_is_one_smtp_session(smtp):
    queued([_customer_with_purchases() for _ in range(4)])
    assert dispatch_batch().sent == 4
    assert len(smtp.messages) == 4
    assert len(smtp.sessions) == 1


def test_a_refused_recipient_fails_and_is_suppressed_while_the_rest_go_out(smtp):
    refused = consented_customer(email="nobody@example.com")
    fine = consented_customer(email="fine@example.com")
    refused_row, fine_row = queued([refused, fine])

    dispatch_batch()

    refused_row.refresh_from_db()
    assert refused_row.status == Delivery.Status.FAILED
    assert "550" in refused_row.error
    assert Suppression.objects.filter(address_hash=address_hash(refused.email)).exists()
    assert Delivery.objects.get(pk=fine_row.pk).status == Delivery.Status.SENT
    assert smtp.recipients() == [fine.email]


def test_a_deferred_recipient_is_retried_later(smtp):
    (row,) = queued([consented_customer(email="later@example.com")])
    dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.QUEUED
    assert row.attempts == 1 and row.next_attempt_at > timezone.now()
    assert "451" in row.error
    assert smtp.messages == []


def test_an_unsubscribe_between_enqueue_and_send_sends_nothing(smtp):
    customer = consented_customer()
    (row,) = queued([customer])
    Consent.objects.filter(customer=customer).update(status=ConsentStatus.WITHDRAWN)
    dispatch_batch()
    assert smtp.messages == []
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.SKIPPED


def test_an_smtp_server_that_is_down_postpones_the_batch_without_counting_attempts(smtp, settings):
    from tests.smtp_sink import free_port

    settings.EMAIL_PORT = free_port()  # nothing listens there
    (row,) = queued([consented_customer()])
    report = dispatch_batch()
    row.refresh_from_db()
    assert (report.sent, report.retried) == (0, 1)
    assert row.status == Delivery.Status.QUEUED and row.attempts == 0
    assert row.next_attempt_at > timezone.now()
    assert "could not connect" in row.error
