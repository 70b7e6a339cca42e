"""Who may enter a journey, and entering them in bulk.

Eligibility is one queryset (consent for the journey's topic, not suppressed,
not erased, the entry rule, the re-entry policy), so a million customers are
enrolled by one ``INSERT … SELECT`` and a hundred candidates from an event
batch by one query plus one insert.
"""

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from django.db import connection
from django.db.models import Exists, F, OuterRef, Q, QuerySet, TextField
from django.db.models.functions import Cast

from customers.models import Customer
from customers.rules import Rule, rule_q
from customers.selectors import customers_sendable
from journeys.document import Journey as JourneySpec
from journeys.document import parse_journey
from journeys.models import Enrollment, Journey, JourneyVersion


@dataclass(frozen=True)
class Live:
    """A live journey version with its parsed document."""

    journey_id: int
    version_id: int
    version_number: int
    activated_at: datetime
    spec: JourneySpec


@lru_cache(maxsize=256)
def _parsed(document_json: str) -> JourneySpec:
    return parse_journey(json.loads(document_json))


def spec_of(version: JourneyVersion) -> JourneySpec:
    """The parsed document, cached by content: the engine asks once per batch."""
    return _parsed(json.dumps(version.document, sort_keys=True))


def live_journeys() -> list[Live]:
    """Every active journey's live version, parsed (one query)."""
    versions = JourneyVersion.objects.filter(
        journey__status=Journey.Status.ACTIVE, journey__live_version=OuterRef("pk")
    )
    rows = JourneyVersion.objects.filter(Exists(versions))
    return [Live(v.journey_id, v.pk, v.number, v.activated_at, spec_of(v)) for v in rows]


def listened_event_names() -> frozenset[str]:
    """Event names live journeys react to: event triggers, waits and goals.

    Asked by every ``events_record`` call, so by every webhook and every open
    pixel: one small query for the live documents, whose SQL is compiled once
    (building it through the ORM cost a millisecond, more than the rest of an
    open). The names of a set of documents are worked out once.
    """
    sql, params = _live_documents_sql(connection.vendor)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        documents = tuple(document for (document,) in cursor.fetchall())
    return _names_listened(documents)


@lru_cache(maxsize=8)
def _live_documents_sql(vendor: str) -> tuple[str, tuple]:
    """The live versions' documents as JSON text (the vendor keys the cache:
    tests may switch databases)."""
    documents = (
        JourneyVersion.objects.filter(
            journey__status=Journey.Status.ACTIVE, journey__live_version=F("pk")
        )
        .order_by("pk")
        .values_list(Cast("document", TextField()))
    )
    return documents.query.sql_with_params()


@lru_cache(maxsize=64)
def _names_listened(documents: tuple[str, ...]) -> frozenset[str]:
    names: set[str] = set()
    for document in documents:
        spec = _parsed(document)
        if spec.trigger.event is not None:
            names.add(spec.trigger.event.name)
        names |= spec.awaited_event_names()
    return frozenset(names)


def eligible_customers(live: Live, *, now: datetime) -> QuerySet[Customer]:
    """Customers who may enter ``live`` now, before its trigger is considered."""
    spec = live.spec
    customers = customers_sendable(spec.topic)
    if spec.entry_rule is not None:
        customers = customers.filter(rule_q(spec.entry_rule, now=now))
    enrolled = Enrollment.objects.filter(journey_id=live.journey_id)
    # Nobody entered yet (a first activation): no re-entry clause at all. On a
    # new, empty table PostgreSQL plans that NOT EXISTS as a scan per customer,
    # and inside INSERT … SELECT each scan wades through the rows the statement
    # itself has just inserted: quadratic, minutes for a million customers.
    if not enrolled.exists():
        return customers
    previous = enrolled.filter(customer=OuterRef("pk"))
    if spec.reentry == "after_exit":
        previous = previous.filter(status=Enrollment.Status.ACTIVE)
    elif spec.reentry == "after_days":
        previous = previous.filter(
            Q(status=Enrollment.Status.ACTIVE)
            | Q(entered_at__gt=now - timedelta(days=spec.reentry_days))
        )
    return customers.exclude(Exists(previous))


def _insert_enrollments(
    live: Live, customers: QuerySet[Customer], trigger_ref: str, now: datetime
) -> int:
    """``INSERT INTO enrollment SELECT … FROM (customers)``: no rows through Python."""
    select_sql, select_params = customers.values(eligible_id=F("pk")).query.sql_with_params()
    table = Enrollment._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    sql = (
        f"INSERT INTO {table} (journey_id, version_id, customer_id, status, step, step_since, "
        f"visit, due_at, entered_at, exit_reason, trigger_ref, branches) "
        f"SELECT %s, %s, eligible.eligible_id, %s, %s, %s, 0, %s, %s, '', %s, '{{}}' "
        f"FROM ({select_sql}) AS eligible WHERE true "
        f"ON CONFLICT DO NOTHING"
    )
    params = (
        live.journey_id,
        live.version_id,
        Enrollment.Status.ACTIVE,
        live.spec.start,
        at,
        at,
        at,
        trigger_ref,
        *select_params,
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def enroll_matching(live: Live, *, rule: Rule | None, trigger_ref: str, now: datetime) -> int:
    """Enroll everyone eligible who matches ``rule`` (broadcasts, segments)."""
    customers = eligible_customers(live, now=now)
    if rule is not None:
        customers = customers.filter(rule_q(rule, now=now))
    return _insert_enrollments(live, customers, trigger_ref, now)


def enroll_candidates(live: Live, candidates: Iterable[tuple[int, str]], *, now: datetime) -> int:
    """Enroll those of (customer id, trigger ref) pairs who are eligible.

    The first candidate of a customer wins; the unique constraints make a
    repeated trigger (the same event routed twice) a no-op.
    """
    refs: dict[int, str] = {}
    for customer_id, ref in candidates:
        refs.setdefault(customer_id, ref)
    if not refs:
        return 0
    done = set(
        Enrollment.objects.filter(
            journey_id=live.journey_id, customer_id__in=refs, trigger_ref__in=set(refs.values())
        ).values_list("customer_id", "trigger_ref")
    )
    eligible = (
        eligible_customers(live, now=now)
        .filter(pk__in=[pk for pk, ref in refs.items() if (pk, ref) not in done])
        .values_list("pk", flat=True)
    )
    rows = [
        Enrollment(
            journey_id=live.journey_id,
            version_id=live.version_id,
            customer_id=pk,
            step=live.spec.start,
            step_since=now,
            due_at=now,
            entered_at=now,
            trigger_ref=refs[pk],
        )
        for pk in eligible
    ]
    Enrollment.objects.bulk_create(rows, ignore_conflicts=True)
    return len(rows)
