"""Claiming queued deliveries, and deciding again, at send time, who may get them.

A journey queued the email when the customer was eligible; by the time a
worker sends it they may have unsubscribed, bounced elsewhere, been erased,
or got other emails. So the claim re-checks consent for the message's topic,
the suppression list and the frequency cap for the whole batch in a few
queries, inside the transaction that takes the rows.

A claim does not change a row's status, only its lease: if the worker dies
before handing the emails over, the lease runs out and another worker takes
them. The lease value doubles as the claim's token (``lease_until`` plus a
random number of microseconds): a worker only sends rows that still carry
its own lease, so a row re-claimed after an expired lease is never sent twice.
"""

import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

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


@dataclass
class Claim:
    """The deliveries a worker may send now, with what rendering needs."""

    lease_until: datetime
    deliveries: list[Delivery] = field(default_factory=list)
    customers: dict[int, Customer] = field(default_factory=dict)
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


def _caps() -> list[tuple[int, timedelta]]:
    caps = [
        (settings.LADDER_FREQUENCY_CAP_PER_DAY, timedelta(days=1)),
        (settings.LADDER_FREQUENCY_CAP_PER_WEEK, timedelta(days=7)),
    ]
    return [(limit, window) for limit, window in caps if limit]


def _cap_wait(sent: list[datetime], now: datetime) -> datetime | None:
    """When one more email fits under every cap, given the customer's send times
    (oldest first); None when it fits now."""
    until = None
    for limit, window in _caps():
        recent = [at for at in sent if at > now - window]
        if len(recent) >= limit:
            frees = recent[-limit] + window
            until = frees if until is None else max(until, frees)
    return until


def _send_times(customer_ids: list[int], now: datetime) -> dict[int, list[datetime]]:
    times: dict[int, list[datetime]] = defaultdict(list)
    caps = _caps()
    if not caps:
        return times
    longest = max(window for _, window in caps)
    rows = (
        Delivery.objects.filter(
            customer_id__in=customer_ids, status__in=HANDED, handed_at__gt=now - longest
        )
        .order_by("handed_at")
        .values_list("customer_id", "handed_at")
    )
    for customer_id, handed_at in rows:
        times[customer_id].append(handed_at)
    return times


def _set_aside(rows: list[tuple], now: datetime) -> None:
    """Write (pk, status, next_attempt_at, error) for rows not sent now."""
    bulk_set_rows(
        Delivery,
        ("status", "next_attempt_at", "error", "updated_at"),
        [(pk, status, next_at, error, now) for pk, status, next_at, error in rows],
    )


@transaction.atomic
def deliveries_claim(*, now: datetime, limit: int) -> Claim:
    """Take up to ``limit`` due deliveries for this worker, oldest first.

    Concurrent workers get disjoint rows (``SKIP LOCKED`` on PostgreSQL; SQLite
    has one writer at a time). Rows whose customer may no longer be emailed
    become SKIPPED with the reason; rows over the frequency cap wait until it
    frees up (a capped email waits, it is not dropped).
    """
    claim = Claim(lease_until=now + LEASE + timedelta(microseconds=random.randrange(1_000_000)))
    rows = list(
        Delivery.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(_due(now))
        .order_by("id")
        .only("id", "customer_id", "message_id", "variant_id", "attempts", "journey_key")[:limit]
    )
    if not rows:
        return claim
    customers = Customer.objects.in_bulk([row.customer_id for row in rows])
    messages = Message.objects.select_related("topic").in_bulk({row.message_id for row in rows})
    granted = set(
        Consent.objects.filter(
            customer_id__in=list(customers),
            topic_id__in={m.topic_id for m in messages.values()},
            status=ConsentStatus.GRANTED,
        ).values_list("customer_id", "topic_id")
    )
    suppressed = set(
        Suppression.objects.filter(
            address_hash__in=[c.email_hash for c in customers.values() if c.email_hash]
        ).values_list("address_hash", flat=True)
    )
    sent = _send_times(list(customers), now)

    aside, leased = [], []
    for row in rows:
        customer = customers.get(row.customer_id)
        topic = messages[row.message_id].topic
        reason = None
        if customer is None or customer.erased_at is not None or not customer.email:
            reason = "the customer was erased or has no email address"
        elif customer.email_hash in suppressed:
            reason = "the address is on the suppression list"
        elif (row.customer_id, topic.pk) not in granted:
            reason = f"no consent for {topic.key!r} at send time"
        if reason:
            aside.append((row.pk, Delivery.Status.SKIPPED, None, reason))
            claim.skipped += 1
            continue
        wait = _cap_wait(sent[row.customer_id], now)
        if wait is not None:
            aside.append(
                (row.pk, Delivery.Status.QUEUED, wait, f"frequency cap: waits until {wait:%c}")
            )
            claim.deferred += 1
            continue
        sent[row.customer_id].append(now)
        leased.append(row)

    _set_aside(aside, now)
    if leased:
        Delivery.objects.filter(pk__in=[row.pk for row in leased]).update(
            lease_until=claim.lease_until
        )
    claim.deliveries = leased
    claim.customers = customers
    claim.messages = messages
    claim.variants = Variant.objects.in_bulk({row.variant_id for row in leased})
    return claim
