"""Claiming queued deliveries, and deciding again, at send time, who may get them.

A journey queued the email when the customer was eligible; by the time a
worker sends it they may have unsubscribed, bounced elsewhere, been erased,
or got other emails. So the claim re-checks consent for the message's topic,
the suppression list and the frequency cap for the whole batch in a few
queries, inside the transaction that takes the rows.

The claim runs in the caller's transaction and locks its rows until that
ends; the caller renders the emails meanwhile, then, still inside it, marks
the first chunk SENDING and gives the rest of the batch a *lease*
(:func:`deliveries_hold`). On SQLite, whose one writer a render would hold
up, the whole batch is leased and the caller renders after the commit
(``send.renders_in_claim``), giving the rows back if rendering raises
(:func:`deliveries_release`). A worker that dies while rendering leaves nothing
behind: the transaction rolls back and the rows are queued as before. One
that dies after it leaves the SENDING chunk for recovery (it may have gone
out) and the leased rows for another worker once the lease runs out. The
lease value doubles as the claim's token (``lease_until`` plus a random
number of microseconds): a worker only hands over rows that still carry its
own lease, so a row re-claimed after an expired lease is never sent twice.
"""

import random
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q

from campaigns.context import CUSTOMER_COLUMNS, customer_context
from campaigns.models import Delivery, Message, Variant
from config.db import bulk_set_rows
from customers.models import Consent, ConsentStatus, Customer, Suppression

#: How long a claim holds its rows. Long enough for a batch to be rendered and
#: sent at a throttled rate; a dead worker's unsent rows wait this long.
LEASE = timedelta(minutes=5)
#: Statuses of emails that went (or may have gone) out: what a frequency cap counts.
HANDED = (
    Delivery.Status.SENDING,
    Delivery.Status.SENT,
    Delivery.Status.DELIVERED,
    Delivery.Status.BOUNCED,
    Delivery.Status.UNKNOWN,
)


@dataclass(slots=True)
class Claimed:
    """One leased delivery: what rendering and recording need of its row."""

    id: int
    customer_id: int
    message_id: int
    variant_id: int
    attempts: int


@dataclass
class Claim:
    """The deliveries a worker may send now, with what rendering needs."""

    lease_until: datetime
    deliveries: list[Claimed] = field(default_factory=list)
    #: customer id -> the template's ``customer`` dict (campaigns.context)
    customers: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: dict[int, Message] = field(default_factory=dict)
    variants: dict[int, Variant] = field(default_factory=dict)
    #: Rows set aside at claim time, by reason: skipped for good or deferred.
    skipped: int = 0
    deferred: int = 0


def _due(now: datetime) -> Q:
    return (
        Q(status=Delivery.Status.QUEUED)
        & (Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        & (Q(lease_until__isnull=True) | Q(lease_until__lt=now))
    )


def deliveries_due_count(*, now: datetime) -> int:
    """How many deliveries a claim at ``now`` could take (before the send-time checks)."""
    return Delivery.objects.filter(_due(now)).count()


def _caps() -> list[tuple[int, timedelta]]:
    caps = [
        (settings.LADDER_FREQUENCY_CAP_PER_DAY, timedelta(days=1)),
        (settings.LADDER_FREQUENCY_CAP_PER_WEEK, timedelta(days=7)),
    ]
    return [(limit, window) for limit, window in caps if limit]


def _cap_wait(
    sent: list[datetime], now: datetime, caps: list[tuple[int, timedelta]]
) -> datetime | None:
    """When one more email fits under every cap (``_caps()``), given the
    customer's send times (oldest first); None when it fits now."""
    until = None
    for limit, window in caps:
        recent = [at for at in sent if at > now - window]
        if len(recent) >= limit:
            frees = recent[-limit] + window
            until = frees if until is None else max(until, frees)
    return until


def _send_times(customer_ids: list[int], now: datetime) -> dict[int, list[datetime]]:
    """Each customer's send times within the longest cap window, oldest first.

    Rows another claim holds under a live lease count as sent now: they go
    out within the lease, and that claim counted them against the cap before
    this one could see them handed over.
    """
    times: dict[int, list[datetime]] = defaultdict(list)
    caps = _caps()
    if not caps:
        return times
    longest = max(window for _, window in caps)
    handed = Q(status__in=HANDED, handed_at__gt=now - longest)
    leased = Q(status=Delivery.Status.QUEUED, lease_until__gt=now)
    rows = Delivery.objects.filter(handed | leased, customer_id__any=customer_ids).values_list(
        "customer_id", "status", "handed_at"
    )
    for customer_id, status, handed_at in rows:
        times[customer_id].append(now if status == Delivery.Status.QUEUED else handed_at)
    for sent in times.values():
        sent.sort()
    return times


def _set_aside(rows: list[tuple], now: datetime) -> None:
    """Write (pk, status, next_attempt_at, error) for rows not sent now."""
    bulk_set_rows(
        Delivery,
        ("status", "next_attempt_at", "error", "updated_at"),
        [(pk, status, next_at, error, now) for pk, status, next_at, error in rows],
    )


#: The delivery's own columns a claim reads, in the order of :class:`Claimed`.
_DELIVERY = ("id", "customer_id", "message_id", "variant_id", "attempts")
#: Where the customer's email address is among CUSTOMER_COLUMNS.
_EMAIL = CUSTOMER_COLUMNS.index("email")


@dataclass(slots=True)
class _Recipient:
    """What the send-time checks need of a customer, and their template dict."""

    sendable: bool
    email_hash: str
    context: dict[str, Any]


def _recipients(customer_ids: list[int]) -> dict[int, _Recipient]:
    """The claimed rows' customers, as plain values (no model instance per row)."""
    rows = Customer.objects.filter(pk__any=customer_ids).values_list(
        "id", "erased_at", "email_hash", *CUSTOMER_COLUMNS
    )
    return {
        pk: _Recipient(
            erased_at is None and bool(values[_EMAIL]), email_hash, customer_context(values)
        )
        for pk, erased_at, email_hash, *values in rows
    }


def deliveries_claim(*, now: datetime, limit: int) -> Claim:
    """Take up to ``limit`` due deliveries for this worker, oldest first, inside
    the caller's transaction (see the module docstring and :func:`deliveries_hold`).

    Concurrent workers get disjoint rows (``SKIP LOCKED`` on PostgreSQL; SQLite
    has one writer at a time). Rows whose customer may no longer be emailed
    become SKIPPED with the reason; rows over the frequency cap wait until it
    frees up (a capped email waits, it is not dropped).

    The rows, their customers, consent and the suppression list are separate
    queries by id: joined into one, PostgreSQL planned the consent check as a
    hash of the whole consent table (95,000 rows for each claim of 500).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("claim deliveries inside transaction.atomic(): it holds their locks")
    claim = Claim(lease_until=now + LEASE + timedelta(microseconds=random.randrange(1_000_000)))
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(_due(now))
        .order_by("id")
        .values_list(*_DELIVERY)[:limit]
    )
    if not rows:
        return claim
    customer_ids = list({row[1] for row in rows})
    recipients = _recipients(customer_ids)
    messages = Message.objects.select_related("topic").in_bulk({row[2] for row in rows})
    granted = set(
        Consent.objects.filter(
            customer_id__any=customer_ids,
            topic_id__in={message.topic_id for message in messages.values()},
            status=ConsentStatus.GRANTED,
        ).values_list("customer_id", "topic_id")
    )
    suppressed = set(
        Suppression.objects.filter(
            address_hash__any=[r.email_hash for r in recipients.values() if r.email_hash]
        ).values_list("address_hash", flat=True)
    )
    sent = _send_times(customer_ids, now)

    aside, leased, caps = [], [], _caps()
    for row in rows:
        pk, customer_id, message_id = row[0], row[1], row[2]
        recipient, topic = recipients.get(customer_id), messages[message_id].topic
        reason = None
        if recipient is None or not recipient.sendable:
            reason = "the customer was erased or has no email address"
        elif recipient.email_hash in suppressed:
            reason = "the address is on the suppression list"
        elif (customer_id, topic.pk) not in granted:
            reason = f"no consent for {topic.key!r} at send time"
        if reason:
            aside.append((pk, Delivery.Status.SKIPPED, None, reason))
            claim.skipped += 1
            continue
        wait = _cap_wait(sent[customer_id], now, caps)
        if wait is not None:
            aside.append(
                (pk, Delivery.Status.QUEUED, wait, f"frequency cap: waits until {wait:%c}")
            )
            claim.deferred += 1
            continue
        sent[customer_id].append(now)
        leased.append(Claimed(*row))
        claim.customers[customer_id] = recipient.context

    _set_aside(aside, now)
    claim.deliveries = leased
    claim.messages = messages
    claim.variants = Variant.objects.in_bulk({row.variant_id for row in leased})
    return claim


def deliveries_hold(claim: Claim, *, handed: Sequence[int], now: datetime) -> None:
    """In the claim's transaction: ``handed`` rows become SENDING (they go to the
    provider as soon as it commits), the claim's other rows get its lease."""
    if handed:
        Delivery.objects.filter(pk__any=handed, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENDING,
            handed_at=now,
            attempts=F("attempts") + 1,
            updated_at=now,
        )
    handed = set(handed)
    leased = [row.id for row in claim.deliveries if row.id not in handed]
    if leased:
        Delivery.objects.filter(pk__any=leased).update(lease_until=claim.lease_until)


def deliveries_release(claim: Claim) -> None:
    """Give up a claim's leased rows, still queued, for the next claim to take now."""
    Delivery.objects.filter(
        pk__any=[row.id for row in claim.deliveries],
        status=Delivery.Status.QUEUED,
        lease_until=claim.lease_until,
    ).update(lease_until=None)
