"""The vocabulary of the rule language: fields, operators, names and limits.

The parser, both evaluators and the JSON Schema all read these tables, so a
field or operator added here is added everywhere at once.
"""

import operator
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

from customers.models import ConsentStatus, Stage


class Kind(StrEnum):
    """What a field holds, which decides its operators and value type."""

    #: Text; ordered by Unicode code point.
    STRING = "string"
    #: A rung of the ladder; ordered by the ladder, lowest first.
    STAGE = "stage"
    #: A whole number.
    INTEGER = "integer"
    #: A decimal amount with two places, compared exactly.
    MONEY = "money"
    #: A floating-point number.
    FLOAT = "float"
    #: An aware timestamp.
    DATETIME = "datetime"
    #: Any JSON value inside ``attributes`` or an event's ``properties``.
    JSON = "json"


#: Customer field -> the kind of value it holds.
FIELD_KINDS = {
    "email": Kind.STRING,
    "external_id": Kind.STRING,
    "first_name": Kind.STRING,
    "last_name": Kind.STRING,
    "locale": Kind.STRING,
    "time_zone": Kind.STRING,
    "stage": Kind.STAGE,
    "orders_count": Kind.INTEGER,
    "revenue": Kind.MONEY,
    "last_purchase_at": Kind.DATETIME,
    "engagement_score": Kind.FLOAT,
    "clv": Kind.MONEY,
    "created_at": Kind.DATETIME,
    "last_open_at": Kind.DATETIME,
    "last_click_at": Kind.DATETIME,
    "open_rate": Kind.FLOAT,
    "click_rate": Kind.FLOAT,
    "lapsed_at": Kind.DATETIME,
}
#: Customer fields that may be NULL (every other one always has a value).
NULLABLE_FIELDS = frozenset(
    {
        "email",
        "external_id",
        "last_purchase_at",
        "last_open_at",
        "last_click_at",
        "open_rate",
        "click_rate",
        "lapsed_at",
    }
)
#: ``field`` values starting with this name a path into ``Customer.attributes``.
ATTRIBUTES_PREFIX = "attributes."

#: Operators that order two values.
ORDER_OPS = ("lt", "lte", "gt", "gte")
#: Operators of counts, sums and day counts: each takes one number.
BOUND_OPS = ("eq", "ne", *ORDER_OPS)
#: Every comparison operator, in the order the docs list them.
ALL_OPS = (*BOUND_OPS, "in", "contains", "exists")

#: Kind -> the operators its fields take.
KIND_OPS = {
    Kind.STRING: ALL_OPS,
    Kind.STAGE: (*BOUND_OPS, "in", "exists"),
    Kind.INTEGER: (*BOUND_OPS, "in", "exists"),
    Kind.MONEY: (*BOUND_OPS, "in", "exists"),
    Kind.FLOAT: (*BOUND_OPS, "in", "exists"),
    Kind.DATETIME: (*BOUND_OPS, "exists"),
    Kind.JSON: ALL_OPS,
}

#: Operator -> the Python comparison it is (``ne`` adds "present" on top).
COMPARE = {
    "eq": operator.eq,
    "ne": operator.ne,
    "lt": operator.lt,
    "lte": operator.le,
    "gt": operator.gt,
    "gte": operator.ge,
}

#: The ladder, lowest rung first; ordering operators on ``stage`` follow it.
STAGES = tuple(Stage.values)
#: Consent statuses a rule may ask for; "none" means the customer was never asked.
CONSENT_STATUSES = (*ConsentStatus.values, "none")
#: What a rule's top level names.
RULE_KEYS = ("all", "any", "not", "field", "stage", "consent", "event", "days_since_last_purchase")
#: Keys of an event clause.
EVENT_KEYS = ("name", "where", "within_days", "count", "sum")
#: Keys of a stage clause.
STAGE_KEYS = ("is", "in", "entered_within_days")

#: Longest window or ``days_ago`` (a hundred years): far enough for any rule,
#: near enough that ``now - days`` never leaves the datetime range.
MAX_DAYS = 36_500
#: Largest count, order count or day count a rule may name (a PostgreSQL integer).
MAX_COUNT = 2**31 - 1
#: Whole numbers beyond this are not exact in every JSON implementation.
MAX_EXACT_INT = 2**53
#: The smallest money step: amounts in rules and sums are whole cents.
CENT = Decimal("0.01")
#: Largest money amount: what a ``DecimalField(max_digits=14, decimal_places=2)`` holds.
MAX_MONEY = Decimal("999999999999.99")
#: Deepest nesting of all/any/not; deeper documents are a mistake, not a segment.
MAX_DEPTH = 32
#: Longest string value; longer ones are surely pasted by accident.
MAX_STRING = 1000


def stage_set(op: str, value: str) -> frozenset[str]:
    """The stages ``stage <op> value`` accepts, ordering by the ladder."""
    rank = STAGES.index(value)
    return frozenset(s for i, s in enumerate(STAGES) if COMPARE[op](i, rank))


def cents(amount: Decimal) -> int:
    """Whole cents, rounding half away from zero as SQL's ROUND does; sums are
    added up in cents so that no backend adds binary fractions."""
    return int((amount * 100).to_integral_value(ROUND_HALF_UP))
