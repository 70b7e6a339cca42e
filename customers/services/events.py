"""Recording what customers do, idempotently and in batches."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.db import IntegrityError, connection, transaction

from config import clock
from config.db import bulk_insert
from customers.errors import FieldError, InvalidInput
from customers.models import Customer, Event
from customers.services.lifecycle import lifecycle_activity_recorded
from customers.signals import activity_recorded, event_names_listened


@dataclass(frozen=True)
class EventInput:
    """One event as a caller sends it; values already validated.

    The customer is named by ``external_id`` or ``email`` (both may be given
    when they agree), or, by Ladder's own code that already holds the customer
    (tracking, webhooks), by ``customer_id``: then nothing is looked up.
    """

    name: str
    occurred_at: datetime
    email: str | None = None
    external_id: str | None = None
    customer_id: int | None = None
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
    named = [e for e in events if e.customer_id is None]
    emails = {e.email for e in named if e.email}
    external_ids = {e.external_id for e in named if e.external_id}
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
        if event.customer_id is not None:
            ids.append(event.customer_id)
            continue
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
    each one that does not and nothing is stored. A ``customer_id`` is taken
    on trust (its callers hold the row; the API cannot send one): an unknown
    one fails the insert's foreign key, and again nothing is stored. Keys
    already stored, or repeated inside the batch, count as duplicates and are
    not stored again: retrying a batch is always safe. Three statements,
    whatever the batch size.
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
    listened = event_names_listened()
    rows: list[tuple] = []
    for event, key, customer_id in zip(events, keys, customer_ids, strict=True):
        if key in stored:
            continue
        stored.add(key)
        # Events no journey listens for are stored as routed: the engine never
        # has to rewrite them.
        routed_at = None if event.name in listened else received_at
        rows.append(
            (
                customer_id,
                event.name,
                event.properties,
                event.value,
                event.currency,
                event.occurred_at,
                received_at,
                key,
                routed_at,
            )
        )
    _insert(rows)
    # The feedback loop: metrics and stage follow, after this commits.
    lifecycle_activity_recorded(activity=[(row[0], row[1]) for row in rows])
    to_route = {row[0] for row in rows if row[-1] is None}
    if to_route:
        activity_recorded.send(sender=Event, kind="event", customer_ids=to_route)
    return EventsRecorded(accepted=len(rows), duplicates=len(events) - len(rows))


#: The columns an event row is written with, in the order of the row tuples.
INSERT_COLUMNS = (
    "customer_id",
    "name",
    "properties",
    "value",
    "currency",
    "occurred_at",
    "received_at",
    "idempotency_key",
    "routed_at",
)


def _insert(rows: list[tuple]) -> None:
    """Write new event rows: COPY on PostgreSQL, a bulk INSERT elsewhere.

    COPY is several times cheaper than building a 1,000-row INSERT through the
    ORM, which matters at ten thousand events a second. It cannot skip
    conflicts, so it runs in a savepoint: if a concurrent request stored one of
    these keys after our read, the savepoint is rolled back and the rows go in
    with INSERT … ON CONFLICT DO NOTHING (``bulk_insert``) instead. Either way
    each key is stored exactly once.
    """
    if not rows:
        return
    if connection.vendor == "postgresql":
        try:
            with transaction.atomic():
                _copy(rows)
            return
        except IntegrityError:
            pass
    bulk_insert(Event, INSERT_COLUMNS, rows)


def _copy(rows: list[tuple]) -> None:
    from psycopg.types.json import Jsonb

    table = Event._meta.db_table
    sql = f"COPY {table} ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
    # The driver's own cursor, for COPY; wrap_database_errors turns its
    # UniqueViolation into Django's IntegrityError like any other query.
    with (
        connection.cursor() as cursor,
        connection.wrap_database_errors,
        cursor.cursor.copy(sql) as copy,
    ):
        for row in rows:
            copy.write_row((*row[:2], Jsonb(row[2]), *row[3:]))
