"""Writes of the campaigns app. ``deliveries_queue`` is the one call journeys make."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from campaigns.models import Delivery, Message
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


@transaction.atomic
def deliveries_queue(*, requests: Sequence[DeliveryRequest], at: datetime) -> list[Delivery]:
    """Write outbox rows, each with its variant picked deterministically.

    A request for a step visit that already has a row is ignored (the unique
    constraint), so a repeated advance can never queue a second email.
    """
    keys = {r.message_key for r in requests}
    messages = {m.key: m for m in Message.objects.filter(key__in=keys).prefetch_related("variants")}
    rows = []
    for request in requests:
        message = messages[request.message_key]
        variants = {v.key: v for v in message.variants.all()}
        choice = pick(
            message.experiment_key,
            request.customer_id,
            [(v.key, v.weight) for v in variants.values()],
        )
        rows.append(
            Delivery(
                customer_id=request.customer_id,
                message=message,
                variant=variants[choice],
                journey_key=request.journey_key,
                journey_version=request.journey_version,
                enrollment_id=request.enrollment_id,
                step_key=request.step_key,
                visit=request.visit,
                queued_at=at,
                updated_at=at,
            )
        )
    return Delivery.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
