"""The webhook scenario's checks mean something: a stream posted through
anymail's real Postmark endpoint passes them, and each kind of damage fails
the check that names it. (In-process, with Django's test client: no gunicorn,
no benchmark run.)"""

import base64
import random
from datetime import timedelta

import pytest

from bench.webhook_stream import EVERY_FATE, Sent, stream_build
from bench.webhooks import TRACKING_PATH, verify
from campaigns.models import Delivery, Message, ProviderEvent
from campaigns.tokens import click_url
from campaigns.tracking import links_register
from config import clock
from customers.models import Customer, Event, Suppression
from customers.services.consent import ConsentProof, consent_grant
from customers.services.suppression import suppression_add
from tests.factories import CustomerFactory, email_marketing

SECRET = "postmark:bench-test-secret"


@pytest.fixture
def posted(messages, settings, client, django_capture_on_commit_callbacks):
    """A stream about a dozen sent emails, posted in its two waves, with the
    lifecycle refreshes they schedule run (the test's transaction never commits)."""
    settings.ANYMAIL = {**settings.ANYMAIL, "WEBHOOK_SECRET": SECRET}
    message = Message.objects.get(key="m")
    sent_at = clock.now() - timedelta(days=1)
    sent = []
    for n in range(len(EVERY_FATE) + 5):
        customer = CustomerFactory()
        consent_grant(
            customer=customer, topic=email_marketing(), proof=ConsentProof(source="form", actor="t")
        )
        variant = message.variants.get(key="AB"[n % 2])
        delivery = Delivery.objects.create(
            customer=customer,
            message=message,
            variant=variant,
            status=Delivery.Status.SENT,
            sent_at=sent_at,
            provider_message_id=f"pm-{n}",
        )
        [link] = links_register(variant_id=variant.pk, urls=["https://shop.example/spring"])
        sent.append(Sent(delivery.pk, customer.email, f"pm-{n}", "m", click_url(delivery.pk, link)))
    stream = stream_build(sent, sent_at=sent_at, rng=random.Random(3))
    auth = {"Authorization": "Basic " + base64.b64encode(SECRET.encode()).decode()}
    with django_capture_on_commit_callbacks(execute=True):
        for body in stream.first + stream.second:
            response = client.post(
                TRACKING_PATH, data=body, content_type="application/json", headers=auth
            )
            assert response.status_code == 200, response.content
    return stream


def _failed(stream) -> list[str]:
    return [name for name, ok in verify(stream.expected).items() if not ok]


def test_a_stream_posted_through_the_real_endpoint_passes_every_check(posted):
    assert _failed(posted) == []
    assert ProviderEvent.objects.count() < posted.posts  # duplicates were posted


def test_a_bounce_undone_fails_the_status_check(posted):
    bounced = next(pk for pk, s in posted.expected.status.items() if s == "bounced")
    Delivery.objects.filter(pk=bounced).update(status=Delivery.Status.DELIVERED)
    assert _failed(posted) == ["final_status_of_every_delivery"]


def test_a_refresh_that_never_ran_fails_the_metrics_check(posted):
    opener = Event.objects.filter(name="email_opened", properties__machine=False).first()
    Customer.objects.filter(pk=opener.customer_id).update(last_open_at=None)
    assert _failed(posted) == ["every_human_open_refreshed_its_customers_metrics"]


def test_a_customer_event_stored_twice_fails_the_events_check(posted):
    event = Event.objects.filter(name="email_opened").first()
    event.pk, event.idempotency_key = None, "again"
    event.save()
    assert _failed(posted) == ["customer_events_exactly_once"]


def test_a_late_delivered_that_moved_a_bounce_fails_the_order_check(posted):
    late = next(
        pk
        for pk, s in posted.expected.status.items()
        if s == "bounced" and pk not in posted.expected.racing
    )
    event = Event.objects.filter(name="email_bounced", properties__delivery_id=late).get()
    event.pk, event.name, event.idempotency_key = None, "email_delivered", "late"
    event.save()
    assert "late_delivered_never_undoes_bounced" in _failed(posted)


def test_a_suppression_too_many_or_too_few_fails_the_suppression_check(posted):
    suppression_add(email="bystander@example.com", reason="manual")
    assert _failed(posted) == ["suppressed_exactly_hard_bounces_and_complaints"]
    Suppression.objects.all().delete()
    assert _failed(posted) == ["suppressed_exactly_hard_bounces_and_complaints"]


def test_a_lost_event_id_fails_the_deduplication_check(posted):
    ProviderEvent.objects.order_by("?").first().delete()
    assert _failed(posted) == ["one_provider_event_per_distinct_event"]
