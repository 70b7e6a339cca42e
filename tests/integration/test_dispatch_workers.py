"""Dispatch on real Celery workers (PostgreSQL + Redis) sending to a real SMTP server.

Two workers with more tasks than workers must send each delivery exactly once.
A worker killed in the middle of a send must leave that delivery UNKNOWN, never
sent again on its own, while the rest of its batch goes out once, later.
"""

import os
import signal
from datetime import timedelta
from itertools import pairwise

import pytest
from django.utils import timezone

from bench.sinks.postmark import PostmarkSink
from campaigns.dispatch import deliveries_recover, dispatch_batch
from campaigns.models import Delivery
from campaigns.tasks import deliveries_dispatch
from customers.models import ConsentSource, ConsentStatus, Customer
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from tests.factories import email_marketing, queued
from tests.integration.conftest import wait_for
from tests.smtp_sink import smtp_sink

pytestmark = pytest.mark.integration


def _customers(emails: list[str]) -> list[Customer]:
    customers = [Customer(email=address) for address in emails]
    for customer in customers:
        customer.sync_email_hash()
    customers = Customer.objects.bulk_create(customers)
    proof = ConsentProof(ConsentSource.IMPORT)
    consents_record(
        changes=[
            ConsentChange(c, email_marketing(), ConsentStatus.GRANTED, proof) for c in customers
        ]
    )
    return customers


def _smtp_env(port: int, **extra: str) -> dict[str, str]:
    return {
        "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
        "EMAIL_HOST": "127.0.0.1",
        "EMAIL_PORT": str(port),
        "LADDER_FREQUENCY_CAP_PER_DAY": "0",
        "LADDER_FREQUENCY_CAP_PER_WEEK": "0",
        **extra,
    }


def test_two_workers_send_each_delivery_exactly_once(start_worker, messages):
    customers = _customers([f"c{n}@example.com" for n in range(300)])
    queued(customers)
    with smtp_sink() as (sink, port):
        env = _smtp_env(port, LADDER_DISPATCH_BATCH="20", LADDER_DISPATCH_CHUNK="5")
        start_worker("w1", **env)
        start_worker("w2", **env)
        for _ in range(6):  # more tasks than workers: duplicates must be harmless
            deliveries_dispatch.delay()
        wait_for(
            lambda: Delivery.objects.filter(status="sent").count() == len(customers),
            timeout=120,
            what="every delivery to be sent",
        )
    recipients = sink.recipients()
    assert len(recipients) == len(customers)
    assert sorted(recipients) == sorted(c.email for c in customers)
    assert len(sink.sessions) >= 2  # both workers sent


def test_a_worker_claims_its_next_batch_while_the_last_is_at_the_provider(start_worker, messages):
    """Through the batch backend, over real HTTP to the fake Postmark API, a
    worker sends each batch from its sending thread while it claims and
    renders the next (campaigns/dispatch/pipeline.py), and every delivery
    still goes out once. A batch's rows share the moment its claim marked
    them SENDING; the next batch's is before the last one's outcomes were
    written, which one batch after the other never is."""
    customers = _customers([f"c{n}@example.com" for n in range(100)])
    queued(customers)
    with PostmarkSink() as sink:
        # Each call answers after 0.3 s: a provider further away than loopback.
        sink.fail(200, times=len(customers) // 20, delay=0.3)
        start_worker(
            "w1",
            EMAIL_BACKEND="campaigns.backends.postmark_batch.EmailBackend",
            ANYMAIL_POSTMARK_SERVER_TOKEN=sink.token,
            ANYMAIL_POSTMARK_API_URL=sink.url,
            LADDER_DISPATCH_BATCH="20",
            LADDER_FREQUENCY_CAP_PER_DAY="0",
            LADDER_FREQUENCY_CAP_PER_WEEK="0",
        )
        deliveries_dispatch.delay()
        wait_for(
            lambda: Delivery.objects.filter(status="sent").count() == len(customers),
            timeout=120,
            what="every delivery to be sent",
        )
        received = [message["To"] for message in sink.messages()]
    assert sorted(received) == sorted(c.email for c in customers)

    batches: dict = {}
    for handed_at, sent_at in Delivery.objects.values_list("handed_at", "sent_at"):
        batches[handed_at] = max(sent_at, batches.get(handed_at, sent_at))
    assert len(batches) == len(customers) // 20
    claimed = sorted(batches)
    ahead = [later for earlier, later in pairwise(claimed) if later < batches[earlier]]
    assert ahead, "every batch was claimed after the one before it was recorded"


def test_a_worker_killed_mid_send_leaves_that_email_unknown_and_never_resends_it(
    start_worker, messages, settings
):
    emails = ["a@example.com", "b@example.com", "slow@example.com", "d@example.com"]
    rows = queued(_customers(emails))
    with smtp_sink() as (sink, port):
        worker = start_worker("w1", **_smtp_env(port, LADDER_DISPATCH_CHUNK="1"))
        deliveries_dispatch.delay()
        assert sink.holding.wait(timeout=60), "the worker never reached the slow recipient"
        os.kill(worker.pid, signal.SIGKILL)  # mid-send: the SMTP DATA is in flight
        worker.wait(timeout=10)
        sink.release()

        before, held, after = rows[:2], rows[2], rows[3]
        assert {Delivery.objects.get(pk=r.pk).status for r in before} == {"sent"}
        assert Delivery.objects.get(pk=held.pk).status == "sending"
        # Never handed over: still queued, under the dead worker's lease.
        assert Delivery.objects.get(pk=after.pk).status == "queued"

        later = timezone.now() + timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS + 1)
        assert deliveries_recover(now=later) == 1
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
        settings.LADDER_FREQUENCY_CAP_PER_DAY = settings.LADDER_FREQUENCY_CAP_PER_WEEK = None
        dispatch_batch(now=later)  # the lease has run out: the untouched row goes now
        dispatch_batch(now=later + timedelta(hours=1))

    assert Delivery.objects.get(pk=held.pk).status == "unknown"
    assert Delivery.objects.get(pk=after.pk).status == "sent"
    assert sorted(sink.recipients()) == ["a@example.com", "b@example.com", "d@example.com"]
