"""JSON document -> ``Rule``, checking everything that can be checked without
the database, and naming the path of the first problem.

Topic keys are the exception: whether a topic exists is a database question,
so callers check ``rule_topics(rule)`` themselves.
"""

import math
import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from customers.rules.language import (
    ALL_OPS,
    ATTRIBUTES_PREFIX,
    BOUND_OPS,
    CENT,
    CONSENT_STATUSES,
    EVENT_KEYS,
    FIELD_KINDS,
    KIND_OPS,
    MAX_COUNT,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_EXACT_INT,
    MAX_MONEY,
    MAX_STRING,
    ORDER_OPS,
    RULE_KEYS,
    STAGE_KEYS,
    STAGES,
    Kind,
)
from customers.rules.nodes import (
    AllOf,
    AnyOf,
    AttributeTest,
    ConsentTest,
    DaysAgo,
    DaysSinceLastPurchase,
    EventTest,
    FieldTest,
    JsonTest,
    Not,
    Rule,
    Scalar,
    StageTest,
)

#: A consent topic key, as ``Topic.key`` (a slug) allows.
TOPIC_KEY = re.compile(r"[-a-zA-Z0-9_]+")
#: Longest event name, as ``Event.name`` allows.
MAX_EVENT_NAME = 100


class RuleError(ValueError):
    """A rule document is invalid. ``path`` says where, e.g. "all[2].event.within_days"
    ("" for the document itself); ``message`` says what is wrong."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


def parse_rule(data: Any) -> Rule:
    """The parsed rule, or ``RuleError`` naming the first problem and its path."""
    return _rule(data, "", 0)


# --- Paths and shapes --------------------------------------------------------


def _key(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def _names(names) -> str:
    return ", ".join(names)


def _object(data: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> dict:
    if not isinstance(data, dict):
        raise RuleError(path, f"must be an object with {_names(allowed)}")
    for key in data:
        if key not in allowed:
            raise RuleError(_key(path, str(key)), f"unknown key; expected {_names(allowed)}")
    for key in required:
        if key not in data:
            raise RuleError(path, f"missing {key!r}")
    return data


def _list(data: Any, path: str, *, non_empty: bool = False) -> list:
    if not isinstance(data, list):
        raise RuleError(path, "must be a list")
    if non_empty and not data:
        raise RuleError(path, "must list at least one value")
    return data


def _whole(data: Any, path: str, low: int, high: int, unit: str = "") -> int:
    """A whole number in [low, high]; 2.0 counts, as it does in JSON."""
    if isinstance(data, float) and data.is_integer():
        data = int(data)
    if type(data) is not int or not low <= data <= high:
        raise RuleError(path, f"must be a whole number{unit} from {low} to {high}")
    return data


def _days(data: Any, path: str, low: int = 1) -> int:
    return _whole(data, path, low, MAX_DAYS, " of days")


# --- Rules -------------------------------------------------------------------


def _rule(data: Any, path: str, depth: int) -> Rule:
    if depth > MAX_DEPTH:
        raise RuleError(path, f"rules may nest at most {MAX_DEPTH} levels deep")
    if not isinstance(data, dict):
        raise RuleError(path, f"a rule must be an object with one of {_names(RULE_KEYS)}")
    if "field" in data:
        return _field(data, path)
    if len(data) != 1:
        found = _names(map(str, data)) or "no keys"
        raise RuleError(path, f"a rule has exactly one of {_names(RULE_KEYS)}; found {found}")
    ((key, body),) = data.items()
    parse = _RULES.get(key)
    if parse is None:
        raise RuleError(path, f"unknown rule {key!r}; expected one of {_names(RULE_KEYS)}")
    return parse(body, _key(path, key), depth)


def _all(body: Any, path: str, depth: int) -> Rule:
    items = _list(body, path)
    return AllOf(tuple(_rule(r, _item(path, i), depth + 1) for i, r in enumerate(items)))


def _any(body: Any, path: str, depth: int) -> Rule:
    items = _list(body, path)
    return AnyOf(tuple(_rule(r, _item(path, i), depth + 1) for i, r in enumerate(items)))


def _not(body: Any, path: str, depth: int) -> Rule:
    return Not(_rule(body, path, depth + 1))


def _stage(body: Any, path: str, depth: int) -> Rule:
    body = _object(body, path, STAGE_KEYS, ())
    if not body:
        raise RuleError(path, f"needs at least one of {_names(STAGE_KEYS)}")
    if "is" in body and "in" in body:
        raise RuleError(path, "takes 'is' or 'in', not both")
    stages = None
    if "is" in body:
        stages = frozenset({_stage_name(body["is"], _key(path, "is"))})
    if "in" in body:
        items = _list(body["in"], _key(path, "in"), non_empty=True)
        stages = frozenset(_stage_name(s, _item(_key(path, "in"), i)) for i, s in enumerate(items))
    within = None
    if "entered_within_days" in body:
        within = _days(body["entered_within_days"], _key(path, "entered_within_days"))
    return StageTest(stages=stages, entered_within_days=within)


def _stage_name(data: Any, path: str) -> str:
    if data not in STAGES or not isinstance(data, str):
        raise RuleError(path, f"unknown stage {data!r}; stages are {_names(STAGES)}")
    return data


def _consent(body: Any, path: str, depth: int) -> Rule:
    body = _object(body, path, ("topic", "status"), ("topic", "status"))
    topic = body["topic"]
    if not isinstance(topic, str) or not TOPIC_KEY.fullmatch(topic):
        raise RuleError(_key(path, "topic"), "must be a topic key (letters, digits, '-' and '_')")
    status = body["status"]
    if status not in CONSENT_STATUSES or not isinstance(status, str):
        raise RuleError(
            _key(path, "status"),
            f"unknown consent status {status!r}; expected {_names(CONSENT_STATUSES)}",
        )
    return ConsentTest(topic=topic, status=status)


def _event(body: Any, path: str, depth: int) -> Rule:
    body = _object(body, path, EVENT_KEYS, ("name",))
    name = body["name"]
    if not isinstance(name, str) or not 0 < len(name) <= MAX_EVENT_NAME:
        raise RuleError(
            _key(path, "name"), f"must be an event name of 1 to {MAX_EVENT_NAME} characters"
        )
    where_path = _key(path, "where")
    where = tuple(
        _json_test(w, "property", _item(where_path, i))
        for i, w in enumerate(_list(body.get("where", []), where_path))
    )
    within = None
    if "within_days" in body:
        within = _days(body["within_days"], _key(path, "within_days"))
    if "count" in body and "sum" in body:
        raise RuleError(path, "takes 'count' or 'sum', not both")
    if "sum" in body:
        bounds = _bounds(body["sum"], _key(path, "sum"), _money)
        return EventTest(name, where, within, "sum", bounds)
    if "count" in body:
        bounds = _bounds(body["count"], _key(path, "count"), _count)
        return EventTest(name, where, within, "count", bounds)
    return EventTest(name, where, within, "count", (("gte", 1),))


def _days_since(body: Any, path: str, depth: int) -> Rule:
    return DaysSinceLastPurchase(_bounds(body, path, lambda v, p: _days(v, p, low=0)))


def _bounds(body: Any, path: str, number) -> tuple:
    body = _object(body, path, BOUND_OPS, ())
    if not body:
        raise RuleError(path, f"needs at least one of {_names(BOUND_OPS)}")
    # Sorted, so that {"gte": 1, "lt": 5} and {"lt": 5, "gte": 1} are one rule.
    return tuple(sorted((op, number(value, _key(path, op))) for op, value in body.items()))


def _count(data: Any, path: str) -> int:
    return _whole(data, path, 0, MAX_COUNT)


_RULES = {
    "all": _all,
    "any": _any,
    "not": _not,
    "stage": _stage,
    "consent": _consent,
    "event": _event,
    "days_since_last_purchase": _days_since,
}


# --- Field comparisons -------------------------------------------------------


def _field(data: dict, path: str) -> Rule:
    data = _object(data, path, ("field", "op", "value"), ("field", "op", "value"))
    field = data["field"]
    if isinstance(field, str) and field.startswith(ATTRIBUTES_PREFIX):
        return AttributeTest(_json_test(data, "field", path))
    if not isinstance(field, str) or field not in FIELD_KINDS:
        raise RuleError(
            _key(path, "field"),
            f"unknown field {field!r}; expected one of {_names(FIELD_KINDS)} "
            f"or {ATTRIBUTES_PREFIX}<key>",
        )
    kind = FIELD_KINDS[field]
    op = _op(data["op"], _key(path, "op"), KIND_OPS[kind], field)
    value_path = _key(path, "value")
    value = data["value"]
    if op == "exists":
        return FieldTest(field, op, _exists(value, value_path))
    parse = _FIELD_VALUES[kind]
    if op == "in":
        items = _list(value, value_path, non_empty=True)
        return FieldTest(
            field, op, tuple(parse(v, _item(value_path, i)) for i, v in enumerate(items))
        )
    return FieldTest(field, op, parse(value, value_path))


def _op(data: Any, path: str, allowed: tuple[str, ...], field: str) -> str:
    if data not in ALL_OPS or not isinstance(data, str):
        raise RuleError(path, f"unknown operator {data!r}; expected one of {_names(ALL_OPS)}")
    if data not in allowed:
        raise RuleError(path, f"{field} does not take {data!r}; it takes {_names(allowed)}")
    return data


def _exists(data: Any, path: str) -> bool:
    if not isinstance(data, bool):
        raise RuleError(path, "exists takes true or false")
    return data


def _string(data: Any, path: str) -> str:
    if not isinstance(data, str):
        raise RuleError(path, "must be a string")
    if len(data) > MAX_STRING:
        raise RuleError(path, f"must be at most {MAX_STRING} characters")
    if "\x00" in data:
        # PostgreSQL text cannot hold NUL, so no stored value could ever match.
        raise RuleError(path, "must not contain NUL characters")
    return data


def _integer(data: Any, path: str) -> int:
    return _whole(data, path, -MAX_COUNT, MAX_COUNT)


def _number(data: Any, path: str) -> Decimal:
    """A finite JSON number as the exact decimal its JSON text spells."""
    if isinstance(data, bool) or not isinstance(data, int | float):
        raise RuleError(path, "must be a number")
    if isinstance(data, float) and not math.isfinite(data):
        raise RuleError(path, "must be a finite number")
    if isinstance(data, int) and abs(data) > MAX_EXACT_INT:
        raise RuleError(path, f"whole numbers must lie within ±{MAX_EXACT_INT}")
    return Decimal(data) if isinstance(data, int) else Decimal(repr(data))


def _money(data: Any, path: str) -> Decimal:
    amount = _number(data, path)
    if abs(amount) > MAX_MONEY:
        raise RuleError(path, f"an amount must lie within ±{MAX_MONEY}")
    if amount != amount.quantize(CENT):
        raise RuleError(path, "an amount has at most two decimal places")
    return amount


def _float(data: Any, path: str) -> float:
    return float(_number(data, path))


def _datetime(data: Any, path: str) -> datetime | DaysAgo:
    if isinstance(data, dict):
        body = _object(data, path, ("days_ago",), ("days_ago",))
        return DaysAgo(_days(body["days_ago"], _key(path, "days_ago"), low=0))
    hint = 'an ISO 8601 timestamp with an offset, e.g. "2025-01-31T00:00:00Z", or {"days_ago": N}'
    if not isinstance(data, str):
        raise RuleError(path, f"must be {hint}")
    try:
        moment = datetime.fromisoformat(data)
    except ValueError:
        raise RuleError(path, f"must be {hint}") from None
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise RuleError(path, f"needs a time zone offset: {hint}")
    return moment


_FIELD_VALUES = {
    Kind.STRING: _string,
    Kind.STAGE: _stage_name,
    Kind.INTEGER: _integer,
    Kind.MONEY: _money,
    Kind.FLOAT: _float,
    Kind.DATETIME: _datetime,
}


# --- JSON paths (attributes, event properties) ------------------------------


def _json_test(data: Any, key: str, path: str) -> JsonTest:
    """Parse {key: "a.b", "op": ..., "value": ...} where key is "field" (with the
    ``attributes.`` prefix) or "property"."""
    if key == "property":
        data = _object(data, path, ("property", "op", "value"), ("property", "op", "value"))
    dotted = data[key]
    if not isinstance(dotted, str):
        raise RuleError(_key(path, key), "must be a dotted path such as 'address.city'")
    if key == "field":
        dotted = dotted.removeprefix(ATTRIBUTES_PREFIX)
    keys = tuple(dotted.split("."))
    for part in keys:
        if not part:
            raise RuleError(_key(path, key), "has an empty key; write keys between single dots")
        if '"' in part:
            # SQLite's JSON path syntax cannot quote a double quote.
            raise RuleError(_key(path, key), "keys may not contain '\"'")
    op = _op(data["op"], _key(path, "op"), ALL_OPS, data[key])
    value_path = _key(path, "value")
    value = data["value"]
    if op == "exists":
        return JsonTest(keys, op, _exists(value, value_path))
    if op == "in":
        items = _list(value, value_path, non_empty=True)
        return JsonTest(
            keys, op, tuple(_scalar(v, _item(value_path, i)) for i, v in enumerate(items))
        )
    scalar = _scalar(value, value_path)
    if op in ORDER_OPS and scalar.kind == "boolean":
        raise RuleError(value_path, f"{op} compares numbers or strings, not true/false")
    return JsonTest(keys, op, scalar)


def _scalar(data: Any, path: str) -> Scalar:
    if data is None:
        raise RuleError(path, "null is not a value to compare with; use op 'exists'")
    if isinstance(data, bool):
        return Scalar("boolean", data)
    if isinstance(data, str):
        return Scalar("string", _string(data, path))
    if isinstance(data, int | float):
        return Scalar("number", _number(data, path))
    raise RuleError(path, "must be a string, a number or true/false")
