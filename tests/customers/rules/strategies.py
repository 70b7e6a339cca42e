"""Hypothesis strategies: random customers and random rules over every construct.

Values come from small pools built around the edges that matter (case and
non-ASCII variants of strings, 1 vs 1.0 vs "1" vs true, timestamps a
microsecond either side of a window's start), so random rules hit random
customers often enough to mean something.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from customers.rules.language import FIELD_KINDS, KIND_OPS, ORDER_OPS, STAGES, Kind

NOW = datetime(2025, 6, 15, 12, 0, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)
#: Windows rules use; times are generated at their edges.
WINDOWS = (1, 7, 30)
TOPICS = ("email_marketing", "sms", "push")  # "push" has no Topic row: always "none"
EVENT_NAMES = ("purchase", "page_view", "open")

STRINGS = ("", "a", "A", "ab", "Ab", "b", "Zoë", "zoë", "ZOË", "é", "1", "true")
#: Numbers whose JSON text both backends read back exactly: 1 and 1.0 are
#: one number (stored as 'integer' and 'real' by SQLite), 0.1 + 0.2 is not 0.3.
NUMBERS = (0, 1, 1.0, 1.5, -0.5, 0.1, 0.3, 0.30000000000000004, 2**53, 1e16)
#: Beyond ±2^53: exact in Python and PostgreSQL, doubles in SQLite (see docs/rules.md).
#: Rules take no whole numbers this large, only floats; stored values take both.
HUGE_FLOATS = (1e300, 1.152921504606847e18)
HUGE_NUMBERS = (2**60 + 1, -(2**62), *HUGE_FLOATS)
MONEY = tuple(Decimal(m) for m in ("0", "0.01", "0.10", "0.20", "0.30", "1", "19.99", "-5"))
SCORES = (0.0, 0.5, 1.0, 2.5, -1.0, 1e-9)
#: Open and click rates: shares from 0 to 1.
RATES = (0.0, 0.25, 0.5, 1.0)
#: Paths rules look at: keys most customers have, a non-ASCII key, a key that
#: looks like an array index, and paths through arrays and scalars (never found).
PATHS = ("a", "a", "b", "tags", "address.city", "address.0", "ä", "0", "a.city", "tags.0")


def moments() -> st.SearchStrategy[datetime]:
    edges = [
        NOW - timedelta(days=days) + shift
        for days in (0, *WINDOWS, 31)
        for shift in (-MICROSECOND, timedelta(0), MICROSECOND)
    ]
    return st.sampled_from([*edges, NOW - timedelta(days=400), NOW + timedelta(days=1)])


def numbers(huge: bool, *, in_rule: bool = False) -> st.SearchStrategy:
    if not huge:
        return st.sampled_from(NUMBERS)
    return st.sampled_from(NUMBERS + (HUGE_FLOATS if in_rule else HUGE_NUMBERS))


def scalars(huge: bool, *, in_rule: bool = False) -> st.SearchStrategy:
    return st.one_of(st.sampled_from(STRINGS), numbers(huge, in_rule=in_rule), st.booleans())


def json_values(huge: bool) -> st.SearchStrategy:
    """Stored attribute/property values: mostly scalars, some null, arrays, objects."""
    scalar = scalars(huge)
    return st.one_of(
        scalar,
        scalar,
        st.none(),
        st.lists(st.one_of(scalar, st.none(), st.lists(scalar, max_size=1)), max_size=3),
        st.dictionaries(st.sampled_from(("city", "0")), st.one_of(scalar, st.none()), max_size=2),
    )


def json_objects(huge: bool) -> st.SearchStrategy[dict]:
    value = json_values(huge)
    return st.fixed_dictionaries(
        {},
        optional={
            "a": value,
            "b": value,
            "tags": st.lists(scalars(huge), max_size=3),
            "address": st.fixed_dictionaries({}, optional={"city": value, "0": value}),
            "ä": value,
            "0": value,
        },
    )


# --- Customers ---------------------------------------------------------------


@dataclass
class EventSpec:
    name: str
    properties: dict
    value: Decimal | None
    occurred_at: datetime


@dataclass
class CustomerSpec:
    fields: dict[str, Any]
    consents: dict[str, str] = field(default_factory=dict)
    events: list[EventSpec] = field(default_factory=list)


@st.composite
def customers(draw, huge: bool = False) -> CustomerSpec:
    email = draw(st.sampled_from([None, "a", "b", "zed"]))
    external_id = draw(st.sampled_from([None, "X", "y"]))
    fields = {
        # Unique columns get a suffix when the population is stored.
        "email": email,
        "external_id": external_id,
        "first_name": draw(st.sampled_from(STRINGS)),
        "last_name": draw(st.sampled_from(STRINGS)),
        "locale": draw(st.sampled_from(["", "en", "en-GB", "de"])),
        "time_zone": draw(st.sampled_from(["UTC", "Europe/Berlin"])),
        "attributes": draw(json_objects(huge)),
        "stage": draw(st.sampled_from(STAGES)),
        "stage_changed_at": draw(moments()),
        "orders_count": draw(st.integers(0, 3)),
        "revenue": draw(st.sampled_from(MONEY)),
        "last_purchase_at": draw(st.one_of(st.none(), moments())),
        "engagement_score": draw(st.sampled_from(SCORES)),
        "clv": draw(st.sampled_from(MONEY)),
        "created_at": draw(moments()),
        "last_open_at": draw(st.one_of(st.none(), moments())),
        "last_click_at": draw(st.one_of(st.none(), moments())),
        "open_rate": draw(st.one_of(st.none(), st.sampled_from(RATES))),
        "click_rate": draw(st.one_of(st.none(), st.sampled_from(RATES))),
        "lapsed_at": draw(st.one_of(st.none(), moments())),
    }
    consents = draw(
        st.dictionaries(
            st.sampled_from(TOPICS[:2]), st.sampled_from(["granted", "pending", "withdrawn"])
        )
    )
    events = draw(
        st.lists(
            st.builds(
                EventSpec,
                name=st.sampled_from(EVENT_NAMES),
                properties=json_objects(huge),
                value=st.one_of(st.none(), st.sampled_from(MONEY)),
                occurred_at=moments(),
            ),
            max_size=4,
        )
    )
    return CustomerSpec(fields, consents, events)


# --- Rules -------------------------------------------------------------------


def _iso_moments() -> st.SearchStrategy:
    return st.one_of(
        moments().map(lambda m: m.isoformat()),
        st.sampled_from([0, *WINDOWS]).map(lambda d: {"days_ago": d}),
    )


#: Kind -> values rules compare fields of that kind with.
FIELD_VALUES = {
    Kind.STRING: st.sampled_from(
        [*STRINGS, "a-1@example.com", "A-1@EXAMPLE.COM", "example", "X-", "y-2", "en-GB", "UTC"]
    ),
    Kind.STAGE: st.sampled_from(STAGES),
    Kind.INTEGER: st.integers(0, 4),
    Kind.MONEY: st.sampled_from(MONEY).map(float),
    Kind.FLOAT: st.sampled_from(SCORES),
    Kind.DATETIME: _iso_moments(),
}


@st.composite
def _comparison(draw, ops: tuple[str, ...], values: st.SearchStrategy) -> dict:
    op = draw(st.sampled_from(ops))
    if op == "exists":
        return {"op": op, "value": draw(st.booleans())}
    if op == "in":
        return {"op": op, "value": draw(st.lists(values, min_size=1, max_size=3))}
    return {"op": op, "value": draw(values)}


def _json_comparison(huge: bool) -> st.SearchStrategy:
    scalar = scalars(huge, in_rule=True)
    ordered = st.one_of(st.sampled_from(STRINGS), numbers(huge, in_rule=True))
    return st.one_of(
        _comparison(("eq", "ne", "in", "contains", "exists"), scalar),
        _comparison(ORDER_OPS, ordered),
    )


def _paths() -> st.SearchStrategy[str]:
    return st.sampled_from(PATHS)


@st.composite
def field_rules(draw) -> dict:
    name = draw(st.sampled_from(list(FIELD_KINDS)))
    kind = FIELD_KINDS[name]
    return {"field": name, **draw(_comparison(KIND_OPS[kind], FIELD_VALUES[kind]))}


@st.composite
def attribute_rules(draw, huge: bool) -> dict:
    path = draw(_paths())
    return {"field": f"attributes.{path}", **draw(_json_comparison(huge))}


@st.composite
def stage_rules(draw) -> dict:
    body = dict(
        draw(
            st.one_of(
                st.builds(lambda s: {"is": s}, st.sampled_from(STAGES)),
                st.builds(
                    lambda s: {"in": s}, st.lists(st.sampled_from(STAGES), min_size=1, max_size=3)
                ),
                st.just({}),
            )
        )
    )
    if not body or draw(st.booleans()):
        body["entered_within_days"] = draw(st.sampled_from(WINDOWS))
    return {"stage": body}


def consent_rules() -> st.SearchStrategy[dict]:
    return st.builds(
        lambda topic, status: {"consent": {"topic": topic, "status": status}},
        st.sampled_from(TOPICS),
        st.sampled_from(["granted", "pending", "withdrawn", "none"]),
    )


def _bounds(numbers: st.SearchStrategy) -> st.SearchStrategy[dict]:
    return st.dictionaries(
        st.sampled_from(["eq", "ne", "lt", "lte", "gt", "gte"]), numbers, min_size=1, max_size=2
    )


@st.composite
def event_rules(draw, huge: bool) -> dict:
    body: dict[str, Any] = {"name": draw(st.sampled_from(EVENT_NAMES))}
    where = draw(
        st.lists(
            st.builds(lambda p, c: {"property": p, **c}, _paths(), _json_comparison(huge)),
            max_size=2,
        )
    )
    if where:
        body["where"] = where
    within = draw(st.sampled_from([None, *WINDOWS]))
    if within is not None:
        body["within_days"] = within
    measure = draw(st.sampled_from(["default", "count", "sum"]))
    if measure == "count":
        body["count"] = draw(_bounds(st.integers(0, 3)))
    elif measure == "sum":
        body["sum"] = draw(_bounds(st.sampled_from([0, 0.3, 0.5, 1, 20, -5])))
    return {"event": body}


def days_since_rules() -> st.SearchStrategy[dict]:
    return _bounds(st.sampled_from([0, *WINDOWS])).map(lambda b: {"days_since_last_purchase": b})


def rules(huge: bool = False) -> st.SearchStrategy[dict]:
    """Rule documents over every construct, nested with all/any/not."""
    leaves = st.one_of(
        field_rules(),
        attribute_rules(huge),
        stage_rules(),
        consent_rules(),
        event_rules(huge),
        days_since_rules(),
    )
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.lists(children, max_size=3).map(lambda rs: {"all": rs}),
            st.lists(children, max_size=3).map(lambda rs: {"any": rs}),
            children.map(lambda r: {"not": r}),
        ),
        max_leaves=4,
    )
