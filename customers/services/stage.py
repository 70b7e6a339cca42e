"""Moving customers on the loyalty ladder, always with a recorded cause."""

from datetime import datetime

from django.db import transaction

from config import clock
from customers.models import Customer, Stage, StageChange


@transaction.atomic
def stage_set(
    *, customer: Customer, stage: Stage, cause: str, at: datetime | None = None
) -> StageChange | None:
    """Put the customer on ``stage`` and record the move; None if already there."""
    if customer.stage == stage:
        return None
    at = at or clock.now()
    change = StageChange.objects.create(
        customer=customer, from_stage=customer.stage, to_stage=stage, changed_at=at, cause=cause
    )
    customer.stage, customer.stage_changed_at, customer.updated_at = stage, at, at
    customer.save(update_fields=["stage", "stage_changed_at", "updated_at"])
    return change
