"""Dispatch: claimed deliveries rendered, handed to the email backend, and recorded.

One batch is one claim (``LADDER_DISPATCH_BATCH`` rows), one query for the
personalization contexts, one render per email from the compiled-template
cache, one backend connection for the whole batch, and one status write per
chunk. A chunk is what goes to the provider between two status writes: the
backend's own batch size when it takes many messages per call
(``campaigns.backends.postmark_batch``), ``LADDER_DISPATCH_CHUNK`` otherwise.

Before a chunk is handed over its rows become SENDING; after, each gets its
outcome. A worker that dies between the two leaves that chunk SENDING, and
:func:`deliveries_recover` later marks it UNKNOWN: it may or may not have gone
out, and sending it again blindly could email someone twice. Rows of the
batch that were not reached keep their lease and are claimed again when it
runs out.
"""

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from django.conf import settings
from django.core.mail import get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import connection as db_connection
from django.db import transaction

from campaigns.context import context_of, recent_events
from campaigns.models import Delivery
from campaigns.rendering import RenderFailed, render_email
from campaigns.senders import SenderNotVerified, sender_for
from campaigns.tokens import open_pixel_url, preferences_url, unsubscribe_token, unsubscribe_url
from config import clock
from config.db import bulk_set_rows
from customers.services.suppression import suppression_add

from . import outcomes, ratelimit
from .claim import Claim, Claimed, deliveries_claim, deliveries_hold, deliveries_release
from .compose import OutboundEmail
from .links import BatchLinks
from .outcomes import Kind, Outcome
from .sessions import environment_settled

logger = logging.getLogger(__name__)

#: Columns a retry or a failure writes, in this order after the primary key.
RESULT_FIELDS = (
    "status",
    "attempts",
    "next_attempt_at",
    "lease_until",
    "handed_at",
    "sent_at",
    "provider_message_id",
    "error",
    "updated_at",
)


#: Statuses of rows a worker holds: leased (QUEUED) or being handed over (SENDING).
OURS = (Delivery.Status.QUEUED, Delivery.Status.SENDING)
#: Statuses a provider webhook can set while the send call is still returning.
OVERTAKEN = (Delivery.Status.DELIVERED, Delivery.Status.BOUNCED)
#: What a sent row records besides its provider's id and time (sent_at).
SENT_CONSTANTS = {"status": Delivery.Status.SENT, "next_attempt_at": None, "error": ""}


@dataclass
class DispatchReport:
    claimed: int = 0
    sent: int = 0
    retried: int = 0
    failed: int = 0
    skipped: int = 0
    deferred: int = 0

    def add(self, other: "DispatchReport") -> None:
        for name in self.__dataclass_fields__:
            setattr(self, name, getattr(self, name) + getattr(other, name))

    @property
    def idle(self) -> bool:
        return not (self.claimed or self.skipped or self.deferred)


@dataclass(slots=True)
class Outgoing:
    delivery: Claimed
    email: OutboundEmail


def retry_delay(attempts: int, retry_after: float | None) -> float:
    """Seconds before attempt ``attempts + 1``: exponential with jitter (half
    fixed, half random, so retries of one outage spread out), never sooner than
    the provider's Retry-After, never longer than the maximum."""
    ceiling = settings.LADDER_SEND_RETRY_MAX_SECONDS
    backoff = min(ceiling, settings.LADDER_SEND_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1))
    delay = backoff / 2 + random.uniform(0, backoff / 2)
    return min(ceiling, max(delay, retry_after or 0.0))


def _render(claim: Claim, links: BatchLinks) -> tuple[list[Outgoing], list]:
    """Each claimed delivery as an email, or as a failure row when it cannot be one."""
    events = recent_events(list(claim.customers))
    senders: dict[int, str] = {}
    rendered, failures = [], []
    for delivery in claim.deliveries:
        customer = claim.customers[delivery.customer_id]
        message = claim.messages[delivery.message_id]
        variant = claim.variants[delivery.variant_id]
        try:
            if message.id not in senders:
                senders[message.id] = sender_for(message.sender)
        except SenderNotVerified as exc:
            failures.append((delivery, Outcome(Kind.FAILED, str(exc))))
            continue
        token = unsubscribe_token(delivery.id)
        unsubscribe = unsubscribe_url(delivery.id, token=token)
        preferences = preferences_url(delivery.customer_id)
        context = context_of(
            customer,
            events.get(delivery.customer_id, []),
            message_key=message.key,
            variant_key=variant.key,
        )
        context["unsubscribe_url"], context["preferences_url"] = unsubscribe, preferences
        try:
            email = render_email(
                subject=variant.subject,
                preheader=variant.preheader,
                html=variant.html_body,
                text=variant.text_body,
                context=context,
                track_link=links.tracker(delivery_id=delivery.id, variant_id=variant.id),
                open_pixel_url=open_pixel_url(delivery.id),
                unsubscribe_url=unsubscribe,
                preferences_url=preferences,
            )
        except RenderFailed as exc:
            failures.append((delivery, Outcome(Kind.FAILED, f"the template failed: {exc}")))
            continue
        rendered.append((delivery, email, token))

    if links.pending:
        links.register()
        rendered = [(d, replace(email, html=links.fill(email.html)), t) for d, email, t in rendered]
    outgoing = []
    for delivery, email, token in rendered:
        message = claim.messages[delivery.message_id]
        customer = claim.customers[delivery.customer_id]
        outbound = OutboundEmail.build(
            delivery_id=delivery.id,
            rendered=email,
            sender=senders[message.id],
            reply_to=message.reply_to,
            to_email=customer["email"],
            to_name=customer["full_name"],
            tag=message.key,
            metadata={
                "delivery_id": str(delivery.id),
                "message": message.key,
                "variant": claim.variants[delivery.variant_id].key,
            },
            unsubscribe_token=token,
        )
        outgoing.append(Outgoing(delivery, outbound))
    return outgoing, failures


def _moved(ids: list[int], changes: str, values: list, condition: str, expected: list) -> set[int]:
    """``UPDATE … SET changes WHERE id IN ids AND condition``; returns the ids it
    changed: a compare-and-set per row, in one statement."""
    table = Delivery._meta.db_table
    placeholders = ", ".join(["%s"] * len(ids))
    with transaction.atomic(), db_connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {changes} WHERE id IN ({placeholders}) AND {condition} "
            f"RETURNING id",
            [*values, *ids, *expected],
        )
        return {row[0] for row in cursor.fetchall()}


def _hand_over(ids: list[int], lease_until: datetime, now: datetime) -> set[int]:
    """Mark rows SENDING if they are still ours; returns those (see claim.py)."""
    at = db_connection.ops.adapt_datetimefield_value
    return _moved(
        ids,
        "status = %s, handed_at = %s, attempts = attempts + 1, updated_at = %s",
        [Delivery.Status.SENDING, at(now), at(now)],
        "status = %s AND lease_until = %s",
        [Delivery.Status.QUEUED, at(lease_until)],
    )


def _still_handed(chunk: list[Outgoing], handed_at: datetime) -> list[Outgoing]:
    """The chunk a claim marked SENDING at ``handed_at``, as it goes out now.

    Normally that is moments later. A chunk that waited longer (prepared
    while another batch was in flight, ``pipeline.py``, then held by the rate
    limiter) gets its ``handed_at`` renewed once half of
    ``LADDER_SENDING_TIMEOUT_SECONDS`` has passed, compare-and-set on rows
    still SENDING, so ``deliveries_recover`` gives it a whole timeout again;
    rows it already marked UNKNOWN (a wait past the whole timeout) are left
    out, not sent.
    """
    now = clock.now()
    if now - handed_at < timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS / 2):
        return chunk
    at = db_connection.ops.adapt_datetimefield_value
    mine = _moved(
        [item.delivery.id for item in chunk],
        "handed_at = %s, updated_at = %s",
        [at(now), at(now)],
        "status = %s AND handed_at = %s",
        [Delivery.Status.SENDING, at(handed_at)],
    )
    return [item for item in chunk if item.delivery.id in mine]


def _result_row(delivery: Claimed, outcome: Outcome, *, attempts: int, now: datetime) -> tuple:
    """The row a retry or a failure writes; ``attempts`` counts this one if it was made."""
    base = (delivery.id,)
    if outcome.kind is Kind.RETRY and attempts < settings.LADDER_SEND_MAX_ATTEMPTS:
        wait = timedelta(seconds=retry_delay(attempts, outcome.retry_after))
        return (*base, Delivery.Status.QUEUED, attempts, now + wait, None, None, None, "",
                f"will retry: {outcome.reason}", now)  # fmt: skip
    reason = outcome.reason
    if outcome.kind is Kind.RETRY:
        reason = f"gave up after {attempts} attempts: {reason}"
    return (*base, Delivery.Status.FAILED, attempts, None, None, None, None, "", reason, now)


def _record(
    results: Sequence[tuple[Claimed, Outcome, int]], claim: Claim, report: DispatchReport
) -> None:
    """Write each outcome to its row: the sent in one narrow statement (only the
    provider's id differs between them; the hand-over already counted the
    attempt and its time), retries and failures in another."""
    if not results:
        return
    now = clock.now()
    sent, rows = [], []
    for delivery, outcome, attempts in results:
        if outcome.kind is Kind.SENT:
            sent.append((delivery.id, outcome.message_id))
            report.sent += 1
            continue
        row = _result_row(delivery, outcome, attempts=attempts, now=now)
        rows.append(row)
        if row[1] == Delivery.Status.QUEUED:
            report.retried += 1
        else:
            report.failed += 1
    facts = {"lease_until": None, "sent_at": now}
    with transaction.atomic():
        # Only rows still ours: a provider webhook may already have moved a
        # row on (SENDING -> DELIVERED or BOUNCED) before this write. Such a
        # row still gets the facts of the send, without its status going back.
        changed = bulk_set_rows(
            Delivery,
            ("provider_message_id",),
            sent,
            only_if=("status", OURS),
            constants={**SENT_CONSTANTS, **facts, "updated_at": now},
        )
        if changed < len(sent):
            bulk_set_rows(
                Delivery,
                ("provider_message_id",),
                sent,
                only_if=("status", OVERTAKEN),
                constants=facts,
            )
        bulk_set_rows(Delivery, RESULT_FIELDS, rows, only_if=("status", OURS))
        for delivery, outcome, _ in results:
            if outcome.suppress is not None:
                customer = claim.customers[delivery.customer_id]
                suppression_add(
                    email=customer["email"], reason=outcome.suppress, note=outcome.reason
                )


def _send_batch(backend, chunk: list[Outgoing]) -> list:
    """Hand a whole chunk to a backend that takes many emails per call; returns
    each one's ``AnymailStatus``. Backends that know Ladder's emails take them
    as they are (``send_outbound``, docs/backends.md); others get messages."""
    if hasattr(backend, "send_outbound"):
        return backend.send_outbound([item.email for item in chunk])
    messages = [item.email.message() for item in chunk]
    backend.send_messages(messages)
    return [getattr(message, "anymail_status", None) for message in messages]


def _attempt(backend, chunk: list[Outgoing], batched: bool, now: datetime) -> list:
    """One outcome per email; a transient failure ends the chunk (the provider is
    unwell or throttling), and the emails after it get ``None`` (not attempted)."""
    if batched:
        try:
            statuses = _send_batch(backend, chunk)
        except Exception as exc:  # the backend's exception says what happened to all
            return [outcomes.from_exception(exc, now=now)] * len(chunk)
        return [outcomes.from_batch_status(status) for status in statuses]
    results: list = []
    for item in chunk:
        message = item.email.message()
        try:
            backend.send_messages([message])
        except Exception as exc:  # classified and recorded: one bad email never stops a batch
            outcome = outcomes.from_exception(exc, now=now)
            results.append(outcome)
            if outcome.transient:
                break
            continue
        results.append(outcomes.from_status(getattr(message, "anymail_status", None)))
    return results + [None] * (len(chunk) - len(results))


def _unattempted(chunk: list[Outgoing], pause: Outcome) -> list[tuple[Claimed, Outcome, int]]:
    """Back to the queue as they were, to wait as long as the failure asked."""
    outcome = Outcome(
        Kind.RETRY,
        f"not attempted: the provider failed just before ({pause.reason})",
        retry_after=pause.retry_after,
    )
    return [(item.delivery, outcome, item.delivery.attempts) for item in chunk]


def _deliver(
    backend, chunk: list[Outgoing], *, batched: bool, claim: Claim, report: DispatchReport
) -> Outcome | None:
    """Send a chunk already marked SENDING and record it; returns the transient
    failure, if any."""
    results = _attempt(backend, chunk, batched, clock.now())
    pairs = list(zip(chunk, results, strict=True))
    done = [
        (item.delivery, outcome, item.delivery.attempts + 1) for item, outcome in pairs if outcome
    ]
    _record(done, claim, report)
    pause = next((outcome for _, outcome in pairs if outcome and outcome.transient), None)
    if pause is not None:
        _record(_unattempted([item for item, o in pairs if o is None], pause), claim, report)
    return pause


def _send_leased(
    backend, chunk: list[Outgoing], *, batched: bool, claim: Claim, report: DispatchReport
) -> Outcome | None:
    """Hand over a chunk the claim leased (if it still holds it), send and record it."""
    ratelimit.acquire(settings.EMAIL_BACKEND, len(chunk))
    mine = _hand_over([item.delivery.id for item in chunk], claim.lease_until, clock.now())
    chunk = [item for item in chunk if item.delivery.id in mine]
    if not chunk:
        return None
    return _deliver(backend, chunk, batched=batched, claim=claim, report=report)


def renders_in_claim() -> bool:
    """Whether one transaction claims a batch, renders it and hands over its first chunk.

    On PostgreSQL it does: a claim locks only its own rows, and each row is
    written once before the send and once after. SQLite has one writer for
    the whole database, which a claim would hold while it renders; there a
    claim only leases its rows and commits, and rendering follows outside any
    transaction, so parallel senders (``send_deliveries --processes``) wait
    for each other only for their short writes. A sender that dies while
    rendering leaves leased rows, claimed again when the lease runs out.
    """
    return db_connection.vendor != "sqlite"


def _rendered(claim: Claim, report: DispatchReport) -> list[Outgoing]:
    """The claim's emails; a delivery that cannot be one is recorded failed."""
    outgoing, failures = _render(claim, BatchLinks())
    _record([(d, o, d.attempts) for d, o in failures], claim, report)
    return outgoing


@dataclass
class Batch:
    """One claim, rendered: what :func:`batch_send` needs to send it.

    ``first`` is the chunk the claim already marked SENDING (see
    :func:`renders_in_claim`); ``rest`` is handed over a chunk at a time.
    ``claim`` is None when nothing was claimed.
    """

    report: DispatchReport
    claim: Claim | None = None
    backend: BaseEmailBackend | None = None
    first: list[Outgoing] = field(default_factory=list)
    rest: list[Outgoing] = field(default_factory=list)
    #: When the claim marked ``first`` SENDING.
    handed_at: datetime | None = None
    #: Whether the rate limiter let ``first`` go at the claim (else at the send).
    paced: bool = True


def batch_size(backend) -> int | None:
    """How many emails the backend takes per call, if it takes many (backends.md)."""
    return getattr(backend, "batch_size", None)


def batch_prepare(
    *, now: datetime | None = None, limit: int | None = None, ahead: bool = False
) -> Batch:
    """Claim a batch and render it; deliveries that cannot be emails are recorded failed.

    Claiming, rendering and marking the first chunk SENDING are one
    transaction where :func:`renders_in_claim` says so (see claim.py), so each
    row is written once before the send and once after; later chunks of the
    batch (on SQLite, every chunk) are handed over one at a time by
    :func:`batch_send`. A batch prepared ``ahead``, while another is still
    being sent, asks the rate limiter when it goes out, not now: it goes out
    only after that one.
    """
    now = now or clock.now()
    report = DispatchReport()
    backend = get_connection()
    size = batch_size(backend) or settings.LADDER_DISPATCH_CHUNK
    in_claim = renders_in_claim()
    first: list[Outgoing] = []
    with transaction.atomic():
        claim = deliveries_claim(now=now, limit=limit or settings.LADDER_DISPATCH_BATCH)
        report.claimed = len(claim.deliveries)
        report.skipped, report.deferred = claim.skipped, claim.deferred
        if not claim.deliveries:
            return Batch(report)
        if in_claim:
            outgoing = _rendered(claim, report)
            first, rest = outgoing[:size], outgoing[size:]
            if not ahead:
                ratelimit.acquire(settings.EMAIL_BACKEND, len(first))
        handed_at = clock.now()
        deliveries_hold(claim, handed=[item.delivery.id for item in first], now=handed_at)
    if not in_claim:
        try:
            rest = _rendered(claim, report)
        except BaseException:  # as the rolled-back claim would: the rows are free again
            deliveries_release(claim)
            raise
    return Batch(report, claim, backend, first, rest, handed_at=handed_at, paced=not ahead)


def batch_send(batch: Batch) -> DispatchReport:
    """Send a prepared batch over one backend connection and record each outcome.

    Runs in any thread (``pipeline.py`` sends in a thread of its own): it
    touches the database only to hand chunks over and record them.
    """
    report, claim, backend = batch.report, batch.claim, batch.backend
    if claim is None or not (batch.first or batch.rest):
        return report
    try:
        backend.open()
        environment_settled(backend)
    except Exception as exc:  # wrong host, refused, bad credentials: fix and it goes out
        logger.exception("could not connect to the email provider")
        batch_requeue(batch, f"could not connect to the provider: {exc}")
        return report
    per_call = batch_size(backend)
    size, batched = per_call or settings.LADDER_DISPATCH_CHUNK, per_call is not None
    try:
        first = batch.first
        if first:
            if not batch.paced:
                ratelimit.acquire(settings.EMAIL_BACKEND, len(first))
            first = _still_handed(first, batch.handed_at)
        pause = (
            _deliver(backend, first, batched=batched, claim=claim, report=report) if first else None
        )
        for start in range(0, len(batch.rest), size):
            chunk = batch.rest[start : start + size]
            if pause is None:
                pause = _send_leased(backend, chunk, batched=batched, claim=claim, report=report)
            else:
                _record(_unattempted(chunk, pause), claim, report)
    finally:
        backend.close()
    return report


def batch_requeue(batch: Batch, reason: str) -> None:
    """A prepared batch none of which went out: its rows back to the queue, to
    be tried again after a pause (``reason`` says why) with their attempts as
    they were."""
    if batch.claim is not None:
        pause = Outcome(Kind.RETRY, reason)
        _record(_unattempted(batch.first + batch.rest, pause), batch.claim, batch.report)


def dispatch_batch(*, now: datetime | None = None, limit: int | None = None) -> DispatchReport:
    """Claim, render, send and record one batch; returns what happened."""
    return batch_send(batch_prepare(now=now, limit=limit))


def deliveries_recover(*, now: datetime | None = None) -> int:
    """SENDING rows whose worker is gone become UNKNOWN; returns how many.

    They are never sent again by Ladder on its own: a provider webhook may
    still resolve them (delivered, bounced), and the admin lets a person
    requeue or close the rest.
    """
    now = now or clock.now()
    cutoff = now - timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS)
    return Delivery.objects.filter(status=Delivery.Status.SENDING, handed_at__lt=cutoff).update(
        status=Delivery.Status.UNKNOWN,
        lease_until=None,
        updated_at=now,
        error="the worker sending it stopped mid-send: the provider may or may not have it",
    )
