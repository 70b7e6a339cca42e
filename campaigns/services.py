"""Writes of the campaigns app. ``deliveries_queue`` is the one call journeys make."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F

from campaigns.models import Delivery, Message
from config.db import bulk_insert
from customers.bucketing import pick


@dataclass(frozen=True)
class DeliveryRequest:
    """A send step's wish: this message to this customer, once for this step visit."""

    customer_id: int
    message_key: str
    enrollment_id: int | None = None
    journey_key: str = ""
    journey_version: int | None = None
    step_key: str = ""
    visit: int = 0
    #: The branch the enrollment has taken at each split so far (experiment key
    #: -> branch), stored on the row so a split's report needs no join.
    branches: Mapping[str, str] = field(default_factory=dict)


#: Outbox columns, in the order ``deliveries_queue`` builds its rows.
DELIVERY_COLUMNS = (
    "customer",
    "message",
    "variant",
    "status",
    "journey_key",
    "journey_version",
    "enrollment_id",
    "step_key",
    "visit",
    "branches",
    "queued_at",
    "updated_at",
)


@transaction.atomic
def deliveries_queue(*, requests: Sequence[DeliveryRequest], at: datetime) -> int:
    """Write outbox rows, each with its variant picked deterministically; returns
    how many were written.

    A request for a step visit that already has a row is skipped (the unique
    constraint), so a repeated advance can never queue a second email.
    """
    keys = {r.message_key for r in requests}
    messages = {m.key: m for m in Message.objects.filter(key__in=keys).prefetch_related("variants")}
    variants = {
        key: (
            [(v.key, v.weight) for v in m.variants.all()],
            {v.key: v.pk for v in m.variants.all()},
        )
        for key, m in messages.items()
    }
    rows = []
    for request in requests:
        message = messages[request.message_key]
        weights, ids = variants[request.message_key]
        choice = pick(message.experiment_key, request.customer_id, weights)
        rows.append(
            (
                request.customer_id,
                message.pk,
                ids[choice],
                Delivery.Status.QUEUED,
                request.journey_key,
                request.journey_version,
                request.enrollment_id,
                request.step_key,
                request.visit,
                dict(request.branches),
                at,
                at,
            )
        )
    return bulk_insert(Delivery, DELIVERY_COLUMNS, rows)


def deliveries_resolve_unknown(*, ids: Sequence[int], sent: bool, at: datetime) -> int:
    """A person's decision about UNKNOWN deliveries (after checking the provider's
    log): ``sent=True`` records them as sent, ``sent=False`` queues them again.
    Only UNKNOWN rows change; returns how many did."""
    unknown = Delivery.objects.filter(pk__in=list(ids), status=Delivery.Status.UNKNOWN)
    if sent:
        return unknown.update(
            status=Delivery.Status.SENT, sent_at=F("handed_at"), error="", updated_at=at
        )
    return unknown.update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=None,
        lease_until=None,
        error="queued again by hand after it was unknown",
        updated_at=at,
    )
