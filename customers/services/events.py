"""Recording what customers do, idempotently and in batches."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import transaction

from config import clock
from customers.errors import FieldError, InvalidInput
from customers.models import Customer, Event
from customers.signals import activity_recorded


@dataclass(frozen=True)
class EventInput:
    """One event as a caller sends it; values already validated.

    The customer is named by ``external_id`` or ``email`` (both may be given
    when they agree).
    """

    name: str
    occurred_at: datetime
    email: str | None = None
    external_id: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    value: Decimal | None = None
    currency: str = ""
    #: Absent means the event cannot be retried safely; a random key is used.
    idempotency_key: str | None = None


@dataclass(frozen=True)
class EventsRecorded:
    #: Events stored by this call.
    accepted: int
    #: Events whose idempotency key was already stored (or repeated in the batch).
    duplicates: int


def _resolve_customers(events: Sequence[EventInput]) -> tuple[list[int], list[FieldError]]:
    emails = {e.email for e in events if e.email}
    external_ids = {e.external_id for e in events if e.external_id}
    by_email = dict(
        Customer.objects.filter(email__in=emails).values_list("email", "id") if emails else ()
    )
    by_external = dict(
        Customer.objects.filter(external_id__in=external_ids).values_list("external_id", "id")
        if external_ids
        else ()
    )
    ids: list[int] = []
    errors: list[FieldError] = []
    for index, event in enumerate(events):
        via_external = by_external.get(event.external_id) if event.external_id else None
        via_email = by_email.get(event.email) if event.email else None
        if not event.email and not event.external_id:
            errors.append(FieldError(index, "email", "email or external_id is required"))
        elif event.external_id and via_external is None:
            errors.append(
                FieldError(index, "external_id", f"no customer has external_id {event.external_id}")
            )
        elif event.email and via_email is None and via_external is None:
            errors.append(FieldError(index, "email", f"no customer has email {event.email}"))
        elif via_external and via_email and via_external != via_email:
            errors.append(
                FieldError(
                    index,
                    "email",
                    f"{event.email} is not the email of external_id {event.external_id}",
                )
            )
        ids.append(via_external or via_email or 0)
    return ids, errors


@transaction.atomic
def events_record(
    *, events: Sequence[EventInput], received_at: datetime | None = None
) -> EventsRecorded:
    """Store a batch of events, all or none.

    Every event must name a known customer; otherwise ``InvalidInput`` lists
    each one that does not and nothing is stored. Keys already stored, or
    repeated inside the batch, count as duplicates and are not stored again:
    retrying a batch is always safe. Three queries, whatever the batch size.
    """
    received_at = received_at or clock.now()
    customer_ids, errors = _resolve_customers(events)
    if errors:
        raise InvalidInput(errors)

    keys = [e.idempotency_key or uuid.uuid4().hex for e in events]
    given_keys = [e.idempotency_key for e in events if e.idempotency_key]
    stored = set(
        Event.objects.filter(idempotency_key__in=given_keys).values_list(
            "idempotency_key", flat=True
        )
    )
    rows: list[Event] = []
    for event, key, customer_id in zip(events, keys, customer_ids, strict=True):
        if key in stored:
            continue
        stored.add(key)
        rows.append(
            Event(
                customer_id=customer_id,
                name=event.name,
                properties=event.properties,
                value=event.value,
                currency=event.currency,
                occurred_at=event.occurred_at,
                received_at=received_at,
                idempotency_key=key,
            )
        )
    # ignore_conflicts covers a concurrent request storing the same key between
    # our read and this insert: the event is still stored exactly once.
    Event.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    if rows:
        activity_recorded.send(
            sender=Event, kind="event", customer_ids={r.customer_id for r in rows}
        )
    return EventsRecorded(accepted=len(rows), duplicates=len(events) - len(rows))
