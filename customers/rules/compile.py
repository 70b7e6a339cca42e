"""A rule compiled to one Django ``Q`` over ``Customer``, for whole populations.

Events and consents become correlated subqueries, so a segment of a million
customers is one SQL statement and never a query per customer. The Python
evaluator in ``evaluate.py`` is the reference; the property test holds this
module to it.
"""

import functools
import operator
from datetime import datetime, timedelta

from django.db.models import BigIntegerField, Count, Exists, OuterRef, Q, Subquery, Sum
from django.db.models.functions import Coalesce
from django.db.models.lookups import (
    Exact,
    GreaterThan,
    GreaterThanOrEqual,
    LessThan,
    LessThanOrEqual,
)
from django.utils import timezone

from customers.models import Consent, Event
from customers.rules.language import FIELD_KINDS, NULLABLE_FIELDS, ORDER_OPS, Kind, cents, stage_set
from customers.rules.nodes import (
    AllOf,
    AnyOf,
    AttributeTest,
    ConsentTest,
    DaysSinceLastPurchase,
    EventTest,
    FieldTest,
    Not,
    Rule,
    StageTest,
    resolve,
)
from customers.rules.sql import AsciiContains, Cents, CodePointOrder, JsonPathTest

#: Everyone and no one. An empty Q() would not do: it vanishes under ~, so
#: {"not": {"all": []}} would match everyone instead of no one.
EVERYONE = Q(pk__isnull=False)
NO_ONE = Q(pk__in=[])

#: Operator -> the lookup that compares an expression with a value.
LOOKUPS = {
    "eq": Exact,
    "lt": LessThan,
    "lte": LessThanOrEqual,
    "gt": GreaterThan,
    "gte": GreaterThanOrEqual,
}

#: days_since_last_purchase OP n -> conditions "last_purchase_at <lookup> now -
#: (n + extra) days", as (lookup, extra). Days are whole and counted down, so
#: "days > n" is "days >= n + 1": bought at or before now - (n + 1) days.
DAYS_SINCE = {
    "gte": (("lte", 0),),
    "gt": (("lte", 1),),
    "lt": (("gt", 0),),
    "lte": (("gt", 1),),
    "eq": (("lte", 0), ("gt", 1)),
}

#: Count bounds that mean "at least one such event": compiled to EXISTS.
SOME = (frozenset({("gte", 1)}), frozenset({("gt", 0)}))
#: Count bounds that mean "no such event": compiled to NOT EXISTS.
NONE = (frozenset({("eq", 0)}), frozenset({("lt", 1)}), frozenset({("lte", 0)}))


def rule_q(rule: Rule, *, now: datetime, scope: Q | None = None) -> Q:
    """A condition for ``Customer.objects.filter()`` selecting whom ``rule`` matches at ``now``.

    ``scope``, a condition on ``customer_id``, promises that only those
    customers will be asked about: their events and consents are then all the
    subqueries read. PostgreSQL may answer an EXISTS by hashing every row it
    could match; told this, it hashes one batch's rows instead of the table's.
    """
    if timezone.is_naive(now):
        raise ValueError("rules are compiled for an aware datetime")
    return _q(rule, now, scope or Q())


def _q(rule: Rule, now: datetime, scope: Q) -> Q:
    match rule:
        case AllOf(rules=rules):
            return _combined(operator.and_, [_q(r, now, scope) for r in rules], EVERYONE)
        case AnyOf(rules=rules):
            return _combined(operator.or_, [_q(r, now, scope) for r in rules], NO_ONE)
        case Not(rule=inner):
            return ~_q(inner, now, scope)
        case FieldTest():
            return _field_q(rule, now)
        case AttributeTest(test=test):
            return Q(JsonPathTest("attributes", test))
        case StageTest(stages=stages, entered_within_days=within):
            conditions = []
            if stages is not None:
                conditions.append(Q(stage__in=sorted(stages)))
            if within is not None:
                conditions.append(Q(stage_changed_at__gte=now - timedelta(days=within)))
            return _combined(operator.and_, conditions, EVERYONE)
        case ConsentTest(topic=topic, status=status):
            consents = Consent.objects.filter(scope, customer=OuterRef("pk"), topic__key=topic)
            if status == "none":
                return ~Q(Exists(consents))
            return Q(Exists(consents.filter(status=status)))
        case EventTest():
            return _event_q(rule, now, scope)
        case DaysSinceLastPurchase(bounds=bounds):
            conditions = [_days_since_q(op, n, now) for op, n in bounds]
            return Q(last_purchase_at__isnull=False) & _combined(
                operator.and_, conditions, EVERYONE
            )
    raise TypeError(f"not a rule: {rule!r}")


def _combined(combine, conditions: list[Q], empty: Q) -> Q:
    return functools.reduce(combine, conditions) if conditions else empty


def _field_q(test: FieldTest, now: datetime) -> Q:
    field, op = test.field, test.op
    if op == "exists":
        return Q(**{f"{field}__isnull": not test.value})
    kind = FIELD_KINDS[field]
    value = resolve(test.value, now)
    if kind is Kind.STAGE and op in ORDER_OPS:
        q = Q(stage__in=sorted(stage_set(op, value)))
    elif op == "eq":
        q = Q(**{field: value})
    elif op == "ne":
        q = ~Q(**{field: value})
    elif op == "in":
        q = Q(**{f"{field}__in": value})
    elif op == "contains":
        q = Q(AsciiContains(field, value))
    elif kind is Kind.STRING:
        q = Q(LOOKUPS[op](CodePointOrder(field), value))
    else:
        q = Q(**{f"{field}__{op}": value})
    if field in NULLABLE_FIELDS:
        # NULL fails every operator but exists:false, negated or not.
        q = Q(**{f"{field}__isnull": False}) & q
    return q


def _event_q(test: EventTest, now: datetime, scope: Q) -> Q:
    events = Event.objects.filter(scope, customer=OuterRef("pk"), name=test.name)
    if test.within_days is not None:
        events = events.filter(occurred_at__gte=now - timedelta(days=test.within_days))
    for where in test.where:
        events = events.filter(JsonPathTest("properties", where))
    per_customer = events.order_by().values("customer")
    if test.measure == "count":
        bounds = frozenset(test.bounds)
        if bounds in SOME:
            return Q(Exists(events))
        if bounds in NONE:
            return ~Q(Exists(events))
        amount = Coalesce(Subquery(per_customer.annotate(n=Count("pk")).values("n")), 0)
        limits = test.bounds
    else:
        # Summed in cents: see Cents. No events (or only valueless ones) sum to 0.
        amount = Coalesce(
            Subquery(per_customer.annotate(total=Sum(Cents("value"))).values("total")),
            0,
            output_field=BigIntegerField(),
        )
        limits = tuple((op, cents(n)) for op, n in test.bounds)
    return _combined(operator.and_, [_compare(amount, op, n) for op, n in limits], EVERYONE)


def _compare(amount, op: str, n: int) -> Q:
    if op == "ne":
        return ~Q(Exact(amount, n))
    return Q(LOOKUPS[op](amount, n))


def _days_since_q(op: str, n: int, now: datetime) -> Q:
    if op == "ne":
        return ~_days_since_q("eq", n, now)
    conditions = [
        Q(**{f"last_purchase_at__{lookup}": now - timedelta(days=n + extra)})
        for lookup, extra in DAYS_SINCE[op]
    ]
    return _combined(operator.and_, conditions, EVERYONE)
