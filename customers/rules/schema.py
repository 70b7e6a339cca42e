"""The JSON Schema (draft 2020-12) of a rule, published as docs/schemas/rule.schema.json.

Built from the same tables as the parser, so the two list the same fields,
operators, stages and statuses. The schema checks shape and types, which is
what an editor needs; ``parse_rule`` also checks what a schema says poorly:
money with at most two decimal places, whole numbers in attribute comparisons
within ±2^53, time zone offsets on timestamps, and nesting depth.
"""

from customers.rules.language import (
    ALL_OPS,
    BOUND_OPS,
    CONSENT_STATUSES,
    FIELD_KINDS,
    KIND_OPS,
    MAX_COUNT,
    MAX_DAYS,
    MAX_MONEY,
    MAX_STRING,
    ORDER_OPS,
    STAGES,
    Kind,
)

#: One key of a JSON path: no dots (they separate keys) and no double quotes.
_PATH_KEY = r'[^."]+'
#: A dotted path into attributes or event properties.
PROPERTY_PATTERN = rf"^{_PATH_KEY}(\.{_PATH_KEY})*$"
ATTRIBUTE_PATTERN = rf"^attributes(\.{_PATH_KEY})+$"

_MONEY = {
    "type": "number",
    "minimum": -float(MAX_MONEY),
    "maximum": float(MAX_MONEY),
    "description": "An amount with at most two decimal places.",
}
_STRING = {"type": "string", "maxLength": MAX_STRING}
_JSON_SCALAR = {"anyOf": [_STRING, {"type": "number"}, {"type": "boolean"}]}

#: Kind -> the value its operators take (a list of them for "in").
_VALUES = {
    Kind.STRING: _STRING,
    Kind.STAGE: {"$ref": "#/$defs/stage_name"},
    Kind.INTEGER: {"type": "integer", "minimum": -MAX_COUNT, "maximum": MAX_COUNT},
    Kind.MONEY: _MONEY,
    Kind.FLOAT: {"type": "number"},
    Kind.DATETIME: {"$ref": "#/$defs/moment"},
    Kind.JSON: _JSON_SCALAR,
}


def _object(description: str, properties: dict, required: tuple[str, ...] = (), **more) -> dict:
    return {
        "type": "object",
        "description": description,
        "properties": properties,
        "required": list(required),
        "additionalProperties": False,
        **more,
    }


def _when_op(ops: tuple[str, ...], value: dict) -> dict:
    return {
        "if": {"properties": {"op": {"enum": list(ops)}}},
        "then": {"properties": {"value": value}},
    }


def _comparison(kind: Kind) -> dict:
    """What ``op`` and ``value`` may be for a field of this kind."""
    value = _VALUES[kind]
    ops = KIND_OPS[kind]
    rules = [
        _when_op(("exists",), {"type": "boolean"}),
        _when_op(("in",), {"type": "array", "minItems": 1, "items": value}),
        _when_op(tuple(op for op in ops if op not in ("exists", "in")), value),
    ]
    if kind is Kind.JSON:
        rules.append(_when_op(ORDER_OPS, {"type": ["string", "number"]}))
    return {"properties": {"op": {"enum": list(ops)}}, "allOf": rules}


def _bounds(description: str, number: dict) -> dict:
    return _object(description, {op: number for op in BOUND_OPS}, minProperties=1)


def _one_key(key: str, value: dict, description: str) -> dict:
    return _object(description, {key: value}, (key,))


_DAYS = {"type": "integer", "minimum": 1, "maximum": MAX_DAYS}
_FIELDS_BY_KIND = {kind: [f for f, k in FIELD_KINDS.items() if k is kind] for kind in Kind}

RULE_JSON_SCHEMA: dict = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://ladder.dev/schemas/rule.schema.json",
    "title": "Ladder rule",
    "description": (
        "A condition on a customer. See docs/rules.md for what each part means; "
        "customers.rules.parse_rule checks what this schema cannot."
    ),
    "$ref": "#/$defs/rule",
    "$defs": {
        "rule": {
            "anyOf": [
                {"$ref": "#/$defs/all"},
                {"$ref": "#/$defs/any"},
                {"$ref": "#/$defs/not"},
                {"$ref": "#/$defs/field"},
                {"$ref": "#/$defs/stage"},
                {"$ref": "#/$defs/consent"},
                {"$ref": "#/$defs/event"},
                {"$ref": "#/$defs/days_since_last_purchase"},
            ]
        },
        "all": _one_key(
            "all",
            {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "Every rule matches (an empty list matches everyone).",
        ),
        "any": _one_key(
            "any",
            {"type": "array", "items": {"$ref": "#/$defs/rule"}},
            "At least one rule matches (an empty list matches no one).",
        ),
        "not": _one_key("not", {"$ref": "#/$defs/rule"}, "The rule does not match."),
        "field": _object(
            "Compare a customer field, or a path into attributes.",
            {
                "field": {
                    "anyOf": [
                        {"enum": list(FIELD_KINDS)},
                        {"type": "string", "pattern": ATTRIBUTE_PATTERN},
                    ]
                },
                "op": {"enum": list(ALL_OPS)},
                "value": True,
            },
            ("field", "op", "value"),
            allOf=[
                *(
                    {
                        "if": {"properties": {"field": {"enum": fields}}},
                        "then": _comparison(kind),
                    }
                    for kind, fields in _FIELDS_BY_KIND.items()
                    if fields
                ),
                {
                    "if": {"properties": {"field": {"pattern": ATTRIBUTE_PATTERN}}},
                    "then": _comparison(Kind.JSON),
                },
            ],
        ),
        "property": _object(
            "Compare a path into the event's properties.",
            {
                "property": {"type": "string", "pattern": PROPERTY_PATTERN},
                "op": {"enum": list(ALL_OPS)},
                "value": True,
            },
            ("property", "op", "value"),
            allOf=[_comparison(Kind.JSON)],
        ),
        "stage": _one_key(
            "stage",
            _object(
                "The customer's stage, and how recently they entered it.",
                {
                    "is": {"$ref": "#/$defs/stage_name"},
                    "in": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/stage_name"}},
                    "entered_within_days": _DAYS,
                },
                minProperties=1,
                **{"not": {"required": ["is", "in"]}},
            ),
            "Stage is, is one of, and/or was entered within a number of days.",
        ),
        "consent": _one_key(
            "consent",
            _object(
                "Consent for one topic; 'none' means never asked.",
                {
                    "topic": {"type": "string", "pattern": "^[-a-zA-Z0-9_]+$"},
                    "status": {"enum": list(CONSENT_STATUSES)},
                },
                ("topic", "status"),
            ),
            "The customer's consent status for a topic.",
        ),
        "event": _one_key(
            "event",
            _object(
                "Events with this name (matching every 'where'), within the window; "
                "their count, or the sum of their values. Neither means count >= 1.",
                {
                    "name": {"type": "string", "minLength": 1, "maxLength": 100},
                    "where": {"type": "array", "items": {"$ref": "#/$defs/property"}},
                    "within_days": _DAYS,
                    "count": _bounds(
                        "How many matching events.",
                        {"type": "integer", "minimum": 0, "maximum": MAX_COUNT},
                    ),
                    "sum": _bounds("The sum of the matching events' values.", _MONEY),
                },
                ("name",),
                **{"not": {"required": ["count", "sum"]}},
            ),
            "An aggregate over the customer's events.",
        ),
        "days_since_last_purchase": _one_key(
            "days_since_last_purchase",
            _bounds(
                "Whole days since last_purchase_at; false for customers who never bought.",
                {"type": "integer", "minimum": 0, "maximum": MAX_DAYS},
            ),
            "Whole days since the last purchase.",
        ),
        "stage_name": {"enum": list(STAGES)},
        "moment": {
            "anyOf": [
                {"type": "string", "format": "date-time"},
                _object(
                    "Now minus a number of days.",
                    {"days_ago": {"type": "integer", "minimum": 0, "maximum": MAX_DAYS}},
                    ("days_ago",),
                ),
            ]
        },
    },
}
