"""dispatch_until: the next batch claimed and rendered while the last one is sent.

The overlap needs a second database connection that sees committed rows, so
its tests commit (``transactional_db``) and run on PostgreSQL, as the
``integration`` leg does. They send through Ladder's Postmark batch backend
to the fake Postmark API over real HTTP on loopback. Inside a transaction, on
SQLite, and with a backend that takes one email per call, batches go one
after the other in the calling thread.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from bench.sinks.postmark import PostmarkSink
from campaigns.dispatch import deliveries_recover, dispatch_until, pipeline, ratelimit
from campaigns.dispatch import send as send_module
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
def test_when_recording_a_sent_batch_fails_the_one_prepared_meanwhile_goes_back_to_the_queue(
    transactional_db, messages, sink, monkeypatch
):
    queued([consented_customer() for _ in range(4)])
    record = send_module._record

    def record_fails_in_the_sending_thread(*args, **kwargs):
        if threading.current_thread().name.startswith("ladder-send"):
            raise RuntimeError("the database went away")
        return record(*args, **kwargs)

    monkeypatch.setattr(send_module, "_record", record_fails_in_the_sending_thread)

    with pytest.raises(RuntimeError, match="went away"):
        dispatch_until()

    # The first batch went out but its outcome was never written: SENDING,
    # to become UNKNOWN (the provider has it). The next was claimed
    # meanwhile, its rows marked SENDING, but never handed over: queued
    # again (to wait a while), not left to become UNKNOWN.
    assert len(sink.messages()) == 3
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["queued", "sending", "sending", "sending"]
    requeued = Delivery.objects.get(status=Delivery.Status.QUEUED)
    assert requeued.attempts == 0 and requeued.lease_until is None
    assert requeued.next_attempt_at is not None
    assert "sending the batch before it failed" in requeued.error


@pytest.mark.integration
def test_a_failure_while_preparing_still_lets_the_batch_in_flight_finish_and_count(
    transactional_db, messages, sink, sends, monkeypatch
):
    queued([consented_customer() for _ in range(5)])
    prepare = pipeline.batch_prepare

    def second_prepare_fails(**kwargs):
        if sends["prepared"]:
            raise RuntimeError("rendering blew up")
        return prepare(**kwargs)

    monkeypatch.setattr(pipeline, "batch_prepare", second_prepare_fails)
    sends["wait"] = 0

    with pytest.raises(RuntimeError, match="blew up"):
        dispatch_until()

    assert len(sink.messages()) == 3
    statuses = sorted(Delivery.objects.values_list("status", flat=True))
    assert statuses == ["queued", "queued", "sent", "sent", "sent"]


@pytest.mark.integration
def test_a_batch_prepared_ahead_is_paced_when_it_goes_out(
    transactional_db, messages, sink, settings, monkeypatch
):
    """The rate limiter's tokens are taken as the emails go: for the first
    batch at its claim, for those prepared while another is in flight by the
    sending thread, just before they go out (else a batch waiting its turn
    would hold tokens, and two could go out back to back)."""
    settings.LADDER_SEND_RATE = 1000
    queued([consented_customer() for _ in range(7)])
    acquire, asked = ratelimit.acquire, []

    def watched_acquire(provider, count, **kwargs):
        asked.append((threading.current_thread().name, count))
        return acquire(provider, count, **kwargs)

    monkeypatch.setattr(ratelimit, "acquire", watched_acquire)

    assert dispatch_until().sent == 7
    assert asked == [
        (threading.current_thread().name, 3),
        ("ladder-send_0", 3),
        ("ladder-send_0", 1),
    ]


@pytest.mark.integration
@pytest.mark.parametrize("recovered", [False, True])
def test_a_chunk_that_waited_long_is_handed_over_again_or_not_sent_if_recovered_meanwhile(
    transactional_db, messages, sink, settings, recovered, time_machine
):
    """A prepared chunk waiting its turn past half the SENDING timeout is
    marked SENDING again before it goes, compare-and-set: if another worker's
    ``deliveries_recover`` already called it UNKNOWN, it is not sent."""
    rows = queued([consented_customer() for _ in range(3)])
    batch = send_module.batch_prepare(ahead=True)
    later = timezone.now() + timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS + 1)
    time_machine.move_to(later)
    if recovered:
        assert deliveries_recover() == 3

    report = send_module.batch_send(batch)

    for row in rows:
        row.refresh_from_db()
    if recovered:
        assert (report.sent, sink.messages()) == (0, [])
        assert {row.status for row in rows} == {Delivery.Status.UNKNOWN}
    else:
        assert report.sent == 3 and len(sink.messages()) == 3
        assert {row.status for row in rows} == {Delivery.Status.SENT}
        assert all(row.handed_at >= later for row in rows)


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
