"""dispatch_until: the next batch claimed and rendered while the last one is sent.

The overlap needs a second database connection that sees committed rows, so
its tests commit (``transactional_db``) and run on PostgreSQL, as the
``integration`` leg does. They send through Ladder's Postmark batch backend
to the fake Postmark API over real HTTP on loopback. Inside a transaction, on
SQLite, and with a backend that takes one email per call, batches go one
after the other in the calling thread.
"""

import threading

import pytest
from django.db import connection, transaction

from bench.sinks.postmark import PostmarkSink
from campaigns.backends.postmark_batch import EmailBackend as BatchBackend
from campaigns.dispatch import dispatch_until, pipeline
from campaigns.models import Delivery
from tests.factories import consented_customer, queued

BATCH_BACKEND = "campaigns.backends.postmark_batch.EmailBackend"


@pytest.fixture
def sink(settings):
    settings.EMAIL_BACKEND = BATCH_BACKEND
    settings.LADDER_FREQUENCY_CAP_PER_DAY = settings.LADDER_FREQUENCY_CAP_PER_WEEK = None
    settings.LADDER_DISPATCH_BATCH = 3
    with PostmarkSink() as running:
        settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": running.token, "POSTMARK_API_URL": running.url}
        yield running


@pytest.fixture
def sends(monkeypatch):
    """Each batch_send's thread name; the first waits until the second batch
    is claimed (as long as ``seen["wait"]`` seconds), and notes whether it was."""
    second_claimed = threading.Event()
    seen: dict = {"threads": [], "first_waited": [], "prepared": [], "wait": 10}
    prepare, send = pipeline.batch_prepare, pipeline.batch_send

    def counted_prepare(**kwargs):
        batch = prepare(**kwargs)
        seen["prepared"].append(batch)
        if len(seen["prepared"]) == 2:
            second_claimed.set()
        return batch

    def watched_send(batch):
        if batch.claim is not None:
            seen["threads"].append(threading.current_thread().name)
            if not seen["first_waited"]:
                seen["first_waited"].append(second_claimed.wait(timeout=seen["wait"]))
        return send(batch)

    monkeypatch.setattr(pipeline, "batch_prepare", counted_prepare)
    monkeypatch.setattr(pipeline, "batch_send", watched_send)
    return seen


@pytest.mark.integration
def test_batches_go_out_from_a_sending_thread_each_once_while_the_next_is_claimed(
    transactional_db, messages, sink, sends
):
    rows = queued([consented_customer() for _ in range(8)])

    report = dispatch_until()

    # Sent one after the other, the first batch would have waited in vain.
    assert sends["first_waited"] == [True]
    assert sends["threads"] == ["ladder-send_0"] * 3
    assert [len(batch.first) for batch in sends["prepared"]] == [3, 3, 2, 0]
    assert (report.claimed, report.sent, report.failed) == (8, 8, 0)
    received = sorted(message["To"] for message in sink.messages())
    assert received == sorted(f"{r.customer.full_name} <{r.customer.email}>" for r in rows)
    assert set(Delivery.objects.values_list("status", flat=True)) == {Delivery.Status.SENT}


@pytest.mark.integration
def test_when_sending_a_batch_fails_the_one_prepared_meanwhile_goes_back_to_the_queue(
    transactional_db, messages, sink, monkeypatch
):
    queued([consented_customer() for _ in range(4)])

    def broken_close(self):
        raise RuntimeError("the backend could not close")

    monkeypatch.setattr(BatchBackend, "close", broken_close)

    with pytest.raises(RuntimeError, match="could not close"):
        dispatch_until()

    # The first batch went out and was recorded before its backend failed to
    # close. The next was claimed meanwhile, its rows marked SENDING, but
    # never handed over: queued again (to wait a while), not left SENDING to
    # become UNKNOWN.
    assert len(sink.messages()) == 3
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["queued", "sent", "sent", "sent"]
    requeued = Delivery.objects.get(status=Delivery.Status.QUEUED)
    assert requeued.attempts == 0 and requeued.lease_until is None
    assert requeued.next_attempt_at is not None
    assert "sending the batch before it failed" in requeued.error


def test_inside_a_transaction_batches_go_one_after_the_other_in_the_calling_thread(
    messages, sink, sends
):
    queued([consented_customer() for _ in range(5)])
    sends["wait"] = 0

    with transaction.atomic():
        assert pipeline.overlaps() is False
        report = dispatch_until()

    assert (report.claimed, report.sent) == (5, 5)
    assert sends["threads"] == [threading.current_thread().name] * 2
    assert sends["first_waited"] == [False]  # the second claim came after the first send


@pytest.mark.parametrize(
    ("backend", "overlapping"),
    [(BATCH_BACKEND, True), ("anymail.backends.postmark.EmailBackend", False)],
)
def test_it_overlaps_on_postgresql_outside_a_transaction_with_a_batch_backend(
    transactional_db, settings, backend, overlapping
):
    settings.EMAIL_BACKEND = backend
    settings.ANYMAIL = {"POSTMARK_SERVER_TOKEN": "test"}
    assert pipeline.overlaps() is (overlapping and connection.vendor == "postgresql")
    with transaction.atomic():
        assert pipeline.overlaps() is False
