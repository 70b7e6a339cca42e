"""A rule evaluated in Python for one customer.

This is the reference meaning of the language; ``rule_q`` must select exactly
the customers this matches, which ``tests/customers/rules/test_agreement.py``
checks against the database.
"""

import math
import string
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.utils import timezone

from customers.rules.facts import CustomerFacts, EventFact
from customers.rules.language import (
    COMPARE,
    FIELD_KINDS,
    ORDER_OPS,
    Kind,
    cents,
    stage_set,
)
from customers.rules.nodes import (
    AllOf,
    AnyOf,
    AttributeTest,
    ConsentTest,
    DaysSinceLastPurchase,
    EventTest,
    FieldTest,
    JsonTest,
    Not,
    Rule,
    Scalar,
    StageTest,
    resolve,
)

#: ``contains`` folds ASCII letters only: SQLite's lower() and PostgreSQL's
#: lower() under COLLATE "C" do exactly that, so it is the one case-insensitivity
#: all three evaluators share.
_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)

_DAY = timedelta(days=1)


def rule_matches(rule: Rule, facts: CustomerFacts, *, now: datetime) -> bool:
    """Does the customer these facts describe match the rule at ``now``?"""
    if timezone.is_naive(now):
        raise ValueError("rules are evaluated at an aware datetime")
    return _matches(rule, facts, now)


def _matches(rule: Rule, facts: CustomerFacts, now: datetime) -> bool:
    match rule:
        case AllOf(rules=rules):
            return all(_matches(r, facts, now) for r in rules)
        case AnyOf(rules=rules):
            return any(_matches(r, facts, now) for r in rules)
        case Not(rule=inner):
            return not _matches(inner, facts, now)
        case FieldTest():
            return _field(rule, facts.values.get(rule.field), now)
        case AttributeTest(test=test):
            return json_test_matches(facts.attributes, test)
        case StageTest():
            return _stage(rule, facts.values, now)
        case ConsentTest(topic=topic, status=status):
            return facts.consents.get(topic, "none") == status
        case EventTest():
            return _event(rule, facts.events, now)
        case DaysSinceLastPurchase(bounds=bounds):
            last = facts.values.get("last_purchase_at")
            if last is None:
                return False
            days = (now - last) // _DAY
            return all(COMPARE[op](days, n) for op, n in bounds)
    raise TypeError(f"not a rule: {rule!r}")


# --- Customer fields ---------------------------------------------------------


def _decimal(number: Any) -> Decimal:
    """A number as the exact decimal its JSON text spells (floats via repr)."""
    return number if isinstance(number, Decimal) else Decimal(repr(number))


#: Kind -> how a stored value becomes comparable with a parsed rule value.
_NORMALIZE = {
    Kind.MONEY: _decimal,
    Kind.FLOAT: float,
}


def _field(test: FieldTest, actual: Any, now: datetime) -> bool:
    if test.op == "exists":
        return (actual is not None) is test.value
    if actual is None:
        return False
    kind = FIELD_KINDS[test.field]
    actual = _NORMALIZE.get(kind, lambda v: v)(actual)
    value = resolve(test.value, now)
    if test.op == "in":
        return actual in value
    if test.op == "contains":
        return value.translate(_ASCII_LOWER) in actual.translate(_ASCII_LOWER)
    if kind is Kind.STAGE and test.op in ORDER_OPS:
        return actual in stage_set(test.op, value)
    return COMPARE[test.op](actual, value)


def _stage(test: StageTest, values: dict[str, Any], now: datetime) -> bool:
    if test.stages is not None and values.get("stage") not in test.stages:
        return False
    if test.entered_within_days is None:
        return True
    changed = values.get("stage_changed_at")
    return changed is not None and changed >= now - timedelta(days=test.entered_within_days)


# --- JSON paths ----------------------------------------------------------------


def json_at(document: Any, path: tuple[str, ...]) -> Any:
    """The value at ``path`` inside nested objects; None when any step is
    missing or not an object (a key never indexes into an array)."""
    node = document
    for key in path:
        if not isinstance(node, dict):
            return None
        node = node.get(key)
    return node


def _scalar(value: Any) -> Scalar | None:
    """A stored JSON value as a comparable ``Scalar``; None for null, arrays and
    objects, which no scalar equals."""
    if isinstance(value, bool):
        return Scalar("boolean", value)
    if isinstance(value, str):
        return Scalar("string", value)
    if isinstance(value, int | Decimal) or (isinstance(value, float) and math.isfinite(value)):
        return Scalar("number", _decimal(value))
    return None


def json_test_matches(document: Any, test: JsonTest) -> bool:
    """Does the JSON value at ``test.path`` in ``document`` pass ``test``?"""
    actual = json_at(document, test.path)
    if test.op == "exists":
        return (actual is not None) is test.value
    if actual is None:
        return False
    value = test.value
    if test.op == "eq":
        return _scalar(actual) == value
    if test.op == "ne":
        return _scalar(actual) != value
    if test.op == "in":
        return _scalar(actual) in value
    if test.op == "contains":
        if isinstance(actual, str):
            return value.kind == "string" and (
                value.value.translate(_ASCII_LOWER) in actual.translate(_ASCII_LOWER)
            )
        if isinstance(actual, list):
            return any(_scalar(element) == value for element in actual)
        return False
    scalar = _scalar(actual)
    return (
        scalar is not None
        and scalar.kind == value.kind
        and COMPARE[test.op](scalar.value, value.value)
    )


# --- Events --------------------------------------------------------------------


def _event(test: EventTest, events: tuple[EventFact, ...], now: datetime) -> bool:
    since = None if test.within_days is None else now - timedelta(days=test.within_days)
    matching = [
        e
        for e in events
        if e.name == test.name
        and (since is None or e.occurred_at >= since)
        and all(json_test_matches(e.properties, w) for w in test.where)
    ]
    if test.measure == "count":
        amount, bounds = len(matching), test.bounds
    else:
        amount = sum(cents(_decimal(e.value)) for e in matching if e.value is not None)
        bounds = tuple((op, cents(n)) for op, n in test.bounds)
    return all(COMPARE[op](amount, n) for op, n in bounds)
