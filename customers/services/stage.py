"""Moving customers on the loyalty ladder, always with a recorded cause."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from config import clock
from config.db import bulk_set
from customers.models import Customer, Stage, StageChange
from customers.signals import activity_recorded


@dataclass(frozen=True)
class StageMove:
    customer: Customer
    stage: Stage
    cause: str


@transaction.atomic
def stages_set(*, moves: Sequence[StageMove], at: datetime | None = None) -> list[StageChange]:
    """Put each customer on its new stage and record the move, in bulk.

    Customers already on the target stage are left alone; a customer moved twice
    in one call ends on the last stage, with both moves recorded.
    """
    at = at or clock.now()
    changes: list[StageChange] = []
    moved: dict[int, Customer] = {}
    for move in moves:
        customer = move.customer
        if customer.stage == move.stage:
            continue
        changes.append(
            StageChange(
                customer=customer,
                from_stage=customer.stage,
                to_stage=move.stage,
                changed_at=at,
                cause=move.cause,
            )
        )
        customer.stage, customer.stage_changed_at, customer.updated_at = move.stage, at, at
        moved[customer.pk] = customer
    if changes:
        StageChange.objects.bulk_create(changes)
        bulk_set(list(moved.values()), ["stage", "stage_changed_at", "updated_at"])
        activity_recorded.send(sender=StageChange, kind="stage", customer_ids=set(moved))
    return changes


def stage_set(
    *, customer: Customer, stage: Stage, cause: str, at: datetime | None = None
) -> StageChange | None:
    """Put one customer on ``stage`` and record the move; None if already there."""
    changes = stages_set(moves=[StageMove(customer, stage, cause)], at=at)
    return changes[0] if changes else None
