"""Worked examples of the rule language: one customer, one rule, the answer.

``test_evaluate`` runs them through Python with hand-built facts and
``test_compile`` through SQL with stored rows, so each edge below is pinned
down on both sides, whatever the random property test happens to draw.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from customers.rules import CustomerFacts, EventFact

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)

#: A customer's fields unless a case says otherwise.
DEFAULTS: dict[str, Any] = {
    "email": "ann@example.com",
    "external_id": None,
    "first_name": "Ann",
    "last_name": "Zoë",
    "locale": "en-GB",
    "time_zone": "Europe/Berlin",
    "stage": "customer",
    "stage_changed_at": NOW - 10 * DAY,
    "orders_count": 2,
    "revenue": Decimal("150.00"),
    "last_purchase_at": NOW - 10 * DAY,
    "engagement_score": 0.5,
    "clv": Decimal("300.00"),
    "created_at": NOW - 100 * DAY,
}


@dataclass(frozen=True)
class Person:
    fields: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)
    events: tuple[EventFact, ...] = ()

    def facts(self) -> CustomerFacts:
        return CustomerFacts(
            values={**DEFAULTS, **self.fields},
            attributes=self.attributes,
            consents=self.consents,
            events=self.events,
        )


def event(name: str, at: datetime, value: str | None = None, **properties) -> EventFact:
    return EventFact(name, properties, None if value is None else Decimal(value), at)


@dataclass(frozen=True)
class Case:
    id: str
    rule: dict
    person: Person
    expected: bool


ANN = Person()
PRO = Person(attributes={"plan": "pro", "n": 1, "s": "1", "b": True, "f": 1.0, "ten": "10"})
TAGGED = Person(attributes={"tags": ["vip", "b2b", 1, True, None], "address": {"city": "Berlin"}})
NULLS = Person(fields={"email": None, "last_purchase_at": None}, attributes={"plan": None})
BUYER = Person(
    events=(
        event("purchase", NOW - 30 * DAY, "0.10", sku="A", product={"sku": "A"}),
        event("purchase", NOW - 5 * DAY, "0.20", sku="a"),
        event("purchase", NOW - 400 * DAY, sku="B"),
        event("page_view", NOW - DAY, path="/"),
    )
)
LATE = Person(events=(event("purchase", NOW - 30 * DAY - MICROSECOND, "5.00", sku="A"),))
EDGE_BUYER = Person(fields={"last_purchase_at": NOW - 30 * DAY})
JUST_UNDER = Person(fields={"last_purchase_at": NOW - 30 * DAY + MICROSECOND})
CONSENTED = Person(consents={"email_marketing": "granted", "sms": "withdrawn"})


def _field(name: str, op: str, value: Any) -> dict:
    return {"field": name, "op": op, "value": value}


def _attr(path: str, op: str, value: Any) -> dict:
    return _field(f"attributes.{path}", op, value)


def _purchases(**more) -> dict:
    return {"event": {"name": "purchase", **more}}


CASES = [
    # --- Combinators
    Case("empty all matches everyone", {"all": []}, ANN, True),
    Case("empty any matches no one", {"any": []}, ANN, False),
    Case("not of empty all matches no one", {"not": {"all": []}}, ANN, False),
    Case("not of empty any matches everyone", {"not": {"any": []}}, ANN, True),
    Case(
        "all needs every rule",
        {"all": [_field("orders_count", "eq", 2), _field("orders_count", "eq", 3)]},
        ANN,
        False,
    ),
    Case(
        "any needs one rule",
        {"any": [_field("orders_count", "eq", 2), _field("orders_count", "eq", 3)]},
        ANN,
        True,
    ),
    # --- Text fields
    Case("eq is exact", _field("email", "eq", "ann@example.com"), ANN, True),
    Case("eq is case-sensitive", _field("email", "eq", "ANN@example.com"), ANN, False),
    Case("contains folds ASCII case", _field("email", "contains", "ANN@EX"), ANN, True),
    Case(
        "contains does not fold other letters", _field("last_name", "contains", "ZOË"), ANN, False
    ),
    Case("contains finds a substring", _field("last_name", "contains", "zo"), ANN, True),
    Case("contains the empty string", _field("first_name", "contains", ""), ANN, True),
    Case("strings order by code point", _field("last_name", "lt", "a"), ANN, True),
    Case(
        "accented letters sort after z",
        _field("first_name", "gt", "z"),
        Person(fields={"first_name": "Émile"}),
        True,
    ),
    Case("in lists strings", _field("locale", "in", ["de", "en-GB"]), ANN, True),
    Case("ne is present and different", _field("locale", "ne", "de"), ANN, True),
    Case("NULL fails eq", _field("email", "eq", "ann@example.com"), NULLS, False),
    Case("NULL fails ne", _field("email", "ne", "ann@example.com"), NULLS, False),
    Case("NULL fails contains", _field("email", "contains", ""), NULLS, False),
    Case("NULL fails in", _field("external_id", "in", ["x"]), ANN, False),
    Case("NULL passes exists false", _field("email", "exists", False), NULLS, True),
    Case("NULL fails exists true", _field("email", "exists", True), NULLS, False),
    Case("not of a NULL comparison", {"not": _field("email", "eq", "x@example.com")}, NULLS, True),
    Case("a value exists", _field("email", "exists", True), ANN, True),
    # --- Stage as a field: the ladder orders it
    Case("stage eq", _field("stage", "eq", "customer"), ANN, True),
    Case("stage gte a lower rung", _field("stage", "gte", "prospect"), ANN, True),
    Case("stage gt its own rung", _field("stage", "gt", "customer"), ANN, False),
    Case("stage lt a higher rung", _field("stage", "lt", "repeat"), ANN, True),
    Case("stage lt the bottom rung", _field("stage", "lt", "suspect"), ANN, False),
    # --- Numbers, money, times
    Case("integer gt", _field("orders_count", "gt", 1), ANN, True),
    Case("integer in", _field("orders_count", "in", [0, 2]), ANN, True),
    Case("whole-number float counts as integer", _field("orders_count", "eq", 2.0), ANN, True),
    Case("money compares numerically", _field("revenue", "eq", 150), ANN, True),
    Case("money to the cent", _field("revenue", "lt", 150.01), ANN, True),
    Case("money above", _field("clv", "gte", 300.01), ANN, False),
    Case("float field", _field("engagement_score", "eq", 0.5), ANN, True),
    Case("days_ago is inclusive", _field("last_purchase_at", "gte", {"days_ago": 10}), ANN, True),
    Case("days_ago exclusive", _field("last_purchase_at", "gt", {"days_ago": 10}), ANN, False),
    Case("NULL time fails", _field("last_purchase_at", "lt", {"days_ago": 0}), NULLS, False),
    Case("timestamp eq", _field("created_at", "eq", "2025-03-07T12:00:00Z"), ANN, True),
    Case(
        "timestamp with an offset",
        _field("created_at", "eq", "2025-03-07T14:00:00+02:00"),
        ANN,
        True,
    ),
    Case("timestamp lt", _field("created_at", "lt", "2025-03-07T12:00:00Z"), ANN, False),
    # --- Attributes
    Case("attribute eq", _attr("plan", "eq", "pro"), PRO, True),
    Case("attribute eq is case-sensitive", _attr("plan", "eq", "Pro"), PRO, False),
    Case("attribute contains folds ASCII case", _attr("plan", "contains", "PR"), PRO, True),
    Case("missing attribute fails eq", _attr("plan", "eq", "pro"), ANN, False),
    Case("missing attribute fails ne", _attr("plan", "ne", "pro"), ANN, False),
    Case("missing attribute fails lt", _attr("plan", "lt", "zzz"), ANN, False),
    Case("missing attribute passes exists false", _attr("plan", "exists", False), ANN, True),
    Case("not of a missing attribute's eq", {"not": _attr("plan", "eq", "pro")}, ANN, True),
    Case("null attribute is missing", _attr("plan", "exists", False), NULLS, True),
    Case("null attribute fails exists true", _attr("plan", "exists", True), NULLS, False),
    Case("number is not a string", _attr("n", "eq", "1"), PRO, False),
    Case("string is not a number", _attr("s", "eq", 1), PRO, False),
    Case("true is not 1", _attr("b", "eq", 1), PRO, False),
    Case("1 is not true", _attr("n", "eq", True), PRO, False),
    Case("true eq true", _attr("b", "eq", True), PRO, True),
    Case("1.0 equals 1", _attr("f", "eq", 1), PRO, True),
    Case("1 equals 1.0", _attr("n", "eq", 1.0), PRO, True),
    Case("ne across types is different", _attr("n", "ne", "1"), PRO, True),
    Case("ne same value", _attr("n", "ne", 1.0), PRO, False),
    Case("strings order as strings", _attr("ten", "gt", "9"), PRO, False),
    Case("numbers order as numbers", _attr("n", "lt", 9), PRO, True),
    Case("ordering across types fails", _attr("s", "lt", 9), PRO, False),
    Case("in across types", _attr("n", "in", ["1", True]), PRO, False),
    Case("in", _attr("plan", "in", ["free", "pro"]), PRO, True),
    Case("nested path", _attr("address.city", "eq", "Berlin"), TAGGED, True),
    Case("missing nested key", _attr("address.zip", "exists", False), TAGGED, True),
    Case("path through a scalar", _attr("plan.name", "exists", True), PRO, False),
    Case("array membership", _attr("tags", "contains", "vip"), TAGGED, True),
    Case("array membership is exact", _attr("tags", "contains", "VIP"), TAGGED, False),
    Case("array membership is not substring", _attr("tags", "contains", "vi"), TAGGED, False),
    Case("array membership of numbers", _attr("tags", "contains", 1.0), TAGGED, True),
    Case("array membership of booleans", _attr("tags", "contains", True), TAGGED, True),
    Case("array membership keeps types", _attr("tags", "contains", "1"), TAGGED, False),
    Case("an array equals no scalar", _attr("tags", "eq", "vip"), TAGGED, False),
    Case("an array is ne any scalar", _attr("tags", "ne", "vip"), TAGGED, True),
    Case("keys never index arrays", _attr("tags.0", "exists", True), TAGGED, False),
    Case(
        "a key may look like a number",
        _attr("scores.0", "eq", 5),
        Person(attributes={"scores": {"0": 5}}),
        True,
    ),
    Case("non-ASCII keys", _attr("größe", "eq", "L"), Person(attributes={"größe": "L"}), True),
    Case("contains on a number", _attr("n", "contains", "1"), PRO, False),
    # --- Stage clause
    Case("stage is", {"stage": {"is": "customer"}}, ANN, True),
    Case("stage in", {"stage": {"in": ["repeat", "loyal"]}}, ANN, False),
    Case("entered at the window's start", {"stage": {"entered_within_days": 10}}, ANN, True),
    Case(
        "entered before the window",
        {"stage": {"entered_within_days": 10}},
        Person(fields={"stage_changed_at": NOW - 10 * DAY - MICROSECOND}),
        False,
    ),
    Case("stage and window", {"stage": {"is": "customer", "entered_within_days": 7}}, ANN, False),
    # --- Consent
    Case(
        "granted", {"consent": {"topic": "email_marketing", "status": "granted"}}, CONSENTED, True
    ),
    Case("withdrawn", {"consent": {"topic": "sms", "status": "withdrawn"}}, CONSENTED, True),
    Case("not pending", {"consent": {"topic": "sms", "status": "pending"}}, CONSENTED, False),
    Case(
        "never asked is none",
        {"consent": {"topic": "email_marketing", "status": "none"}},
        ANN,
        True,
    ),
    Case("asked is not none", {"consent": {"topic": "sms", "status": "none"}}, CONSENTED, False),
    # --- Events
    Case(
        "bought A in the last 30 days, at the window's start",
        _purchases(where=[{"property": "sku", "op": "eq", "value": "A"}], within_days=30),
        BUYER,
        True,
    ),
    Case(
        "a microsecond before the window",
        _purchases(where=[{"property": "sku", "op": "eq", "value": "A"}], within_days=30),
        LATE,
        False,
    ),
    Case("no window is all time", _purchases(count={"eq": 3}), BUYER, True),
    Case("window", _purchases(within_days=30, count={"eq": 2}), BUYER, True),
    Case("count ne", _purchases(within_days=30, count={"ne": 2}), BUYER, False),
    Case("count range", _purchases(count={"gt": 1, "lt": 4}), BUYER, True),
    Case("count eq 0 without events", _purchases(count={"eq": 0}), ANN, True),
    Case("count lt 1 without events", _purchases(count={"lt": 1}), ANN, True),
    Case("count lte 0 with events", _purchases(count={"lte": 0}), BUYER, False),
    Case("other names do not count", {"event": {"name": "open", "count": {"eq": 0}}}, BUYER, True),
    Case("default is at least one", {"event": {"name": "page_view"}}, BUYER, True),
    Case(
        "where is case-sensitive",
        _purchases(where=[{"property": "sku", "op": "eq", "value": "a"}], count={"eq": 1}),
        BUYER,
        True,
    ),
    Case(
        "where on a nested property",
        _purchases(where=[{"property": "product.sku", "op": "eq", "value": "A"}]),
        BUYER,
        True,
    ),
    Case(
        "where exists false",
        _purchases(
            where=[{"property": "product", "op": "exists", "value": False}], count={"eq": 2}
        ),
        BUYER,
        True,
    ),
    Case("sum is exact: 0.10 + 0.20 = 0.30", _purchases(sum={"eq": 0.3}), BUYER, True),
    Case("sum in a window", _purchases(within_days=7, sum={"eq": 0.2}), BUYER, True),
    Case("sum of nothing is 0", _purchases(sum={"lt": 1}), ANN, True),
    Case(
        "sum ignores valueless events",
        {"event": {"name": "page_view", "sum": {"eq": 0}}},
        BUYER,
        True,
    ),
    Case(
        "future events count",
        _purchases(within_days=1),
        Person(events=(event("purchase", NOW + DAY),)),
        True,
    ),
    # --- Days since last purchase: whole days, counted down
    Case("30 days to the microsecond", {"days_since_last_purchase": {"eq": 30}}, EDGE_BUYER, True),
    Case("gt 29", {"days_since_last_purchase": {"gt": 29}}, EDGE_BUYER, True),
    Case("not gt 30", {"days_since_last_purchase": {"gt": 30}}, EDGE_BUYER, False),
    Case("gte 30", {"days_since_last_purchase": {"gte": 30}}, EDGE_BUYER, True),
    Case("a microsecond short is 29", {"days_since_last_purchase": {"eq": 29}}, JUST_UNDER, True),
    Case("lt 30", {"days_since_last_purchase": {"lt": 30}}, JUST_UNDER, True),
    Case("lte 29", {"days_since_last_purchase": {"lte": 29}}, JUST_UNDER, True),
    Case("ne 29", {"days_since_last_purchase": {"ne": 29}}, JUST_UNDER, False),
    Case("never bought fails lt", {"days_since_last_purchase": {"lt": 100}}, NULLS, False),
    Case("never bought fails gte", {"days_since_last_purchase": {"gte": 0}}, NULLS, False),
    Case(
        "never bought passes its not",
        {"not": {"days_since_last_purchase": {"gte": 0}}},
        NULLS,
        True,
    ),
]
