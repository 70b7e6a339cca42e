"""Batch after batch until none is due, the next rendered while the last is sent.

A batch's time in a worker is CPU (rendering most of it) and then waiting:
for the provider's answer, for PostgreSQL to commit the outcomes. Sent one
after the other, the worker's core idles through every wait. So where it
can, :func:`dispatch_until` sends each batch in a thread of its own while
this thread claims and renders the next: the socket and psycopg release the
GIL while they wait, and the rendering fills the gap.

It does so only where that is safe and pays (:func:`overlaps`):

* on PostgreSQL, where each thread has its own connection and a claim locks
  only its own rows. SQLite has one writer for the whole database; its
  parallel senders are processes (``send_deliveries --processes``);
* outside a transaction: rows claimed in a caller's open transaction are
  invisible to the sending thread's connection until it commits;
* with a backend that takes many emails per call (``batch_size``). One that
  takes one per call keeps the sending thread busy with CPU of its own
  (anymail builds each request), and after each of its 500 calls per batch
  the thread waits for the GIL behind the rendering: measured, the
  per-message path used less of the machine, not more (docs/performance.md).

At most one batch is in flight, so a worker holds at most two: the one being
sent and the next, whose first chunk its claim marked SENDING (send.py). A
worker killed in between leaves both SENDING, later UNKNOWN; never sent twice.
When sending a batch fails, the one prepared meanwhile goes back to the queue.
The batch waiting its turn takes the rate limiter's tokens when it goes out,
not when it is claimed. If it waited past half the SENDING timeout, its
``handed_at`` is renewed first, on rows still SENDING; rows
``deliveries_recover`` already marked UNKNOWN are not sent
(``send._still_handed``).
Its send-time checks (consent, suppression, frequency cap) ran while the batch
before it was out, as they do when two workers send at once: a hard bounce in
one batch does not stop a delivery to the same address already claimed in the
next.

Each sending worker then holds two database connections: its own, and the
sending thread's, which is closed when ``dispatch_until`` returns.
"""

import logging
import time
from concurrent.futures import Future, ThreadPoolExecutor

from django.core.mail import get_connection
from django.db import connection, connections

from .send import (
    Batch,
    DispatchReport,
    batch_prepare,
    batch_requeue,
    batch_send,
    batch_size,
    deliveries_recover,
    renders_in_claim,
)

logger = logging.getLogger(__name__)


def overlaps() -> bool:
    """Whether the next batch renders while the last one is sent (see above)."""
    return (
        renders_in_claim()
        and not connection.in_atomic_block
        and batch_size(get_connection()) is not None
    )


def dispatch_until(*, deadline: float | None = None) -> DispatchReport:
    """Recover stuck rows, then send batches until none is due or the
    ``time.monotonic()`` deadline passes."""
    deliveries_recover()
    report = DispatchReport()
    if not overlaps():
        _send_batches(report, deadline, sender=None)
        return report
    with ThreadPoolExecutor(1, thread_name_prefix="ladder-send") as sender:
        try:
            _send_batches(report, deadline, sender=sender)
        finally:
            # Queued behind a batch still in flight, so that one finishes first.
            sender.submit(connections.close_all).result()
    return report


def _send_batches(
    report: DispatchReport, deadline: float | None, *, sender: ThreadPoolExecutor | None
) -> None:
    """Prepare batches here; send each here too, or in ``sender`` while the next is prepared."""
    in_flight: Future | None = None
    try:
        while deadline is None or time.monotonic() < deadline:
            batch = batch_prepare(ahead=in_flight is not None)
            if in_flight is not None:
                sent, in_flight = in_flight, None
                _collect(sent, report, following=batch)
            if batch.claim is None or sender is None:
                report.add(batch_send(batch))
                if batch.report.idle:
                    break
                continue
            in_flight = sender.submit(batch_send, batch)
    finally:
        if in_flight is not None:
            report.add(in_flight.result())


def _collect(sent: Future, report: DispatchReport, *, following: Batch) -> None:
    """Add the sent batch's report to ``report``. If sending it failed, the
    batch prepared meanwhile is not sent either: none of it was handed to the
    provider, so its rows go back to the queue rather than stay SENDING (and
    become UNKNOWN), and the failure is raised."""
    try:
        report.add(sent.result())
    except BaseException as exc:
        try:
            batch_requeue(following, f"not attempted: sending the batch before it failed ({exc!r})")
        except Exception:  # the database is gone too: the failure to raise is the first one
            logger.exception("could not queue again a batch that was never sent")
        raise
