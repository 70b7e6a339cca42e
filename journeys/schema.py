"""The JSON Schema of a journey document (published as docs/schemas/journey.schema.json).

The schema checks shape and types; ``journeys.document`` checks what a schema
cannot (the graph, rules, weights). Rules are described by the rule schema.
"""

from customers.models import Stage

_KEY = {"type": "string", "pattern": "^[a-z0-9][a-z0-9_-]{0,63}$"}
_STEP_KEY = {"type": "string", "minLength": 1, "maxLength": 64}
_DURATION = {"type": "string", "pattern": r"^\d+\s*[mhdw]$", "description": "30m, 12h, 3d, 2w"}
_TIME = {"type": "string", "pattern": "^([01][0-9]|2[0-3]):[0-5][0-9]$"}
_RULE = {"$ref": "https://ladder.dev/schemas/rule.schema.json"}
_STAGE = {"enum": list(Stage.values)}
_WHERE = {
    "type": "array",
    "items": {
        "type": "object",
        "required": ["property", "op", "value"],
        "properties": {"property": {"type": "string"}, "op": {"type": "string"}, "value": {}},
        "additionalProperties": False,
    },
}


def _step(kind: str, required: list[str], **properties) -> dict:
    return {
        "if": {"properties": {"type": {"const": kind}}},
        "then": {
            "required": ["type", *required],
            "properties": {"type": {"const": kind}, **properties},
            "additionalProperties": False,
        },
    }


STEP_TYPES = (
    "wait",
    "wait_for_event",
    "condition",
    "split",
    "send_email",
    "update",
    "goal",
    "exit",
)

JOURNEY_JSON_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "$id": "https://ladder.dev/schemas/journey.schema.json",
    "title": "Ladder journey",
    "type": "object",
    "required": ["key", "name", "trigger", "start", "steps"],
    "additionalProperties": False,
    "properties": {
        "key": _KEY,
        "name": {"type": "string", "minLength": 1, "maxLength": 200},
        "description": {"type": "string"},
        "topic": {
            "type": "string",
            "description": "consent topic required; default email_marketing",
        },
        "trigger": {
            "type": "object",
            "required": ["type"],
            "properties": {
                "type": {"enum": ["stage_entered", "event", "segment", "date", "broadcast"]}
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "stage_entered"}}},
                    "then": {
                        "required": ["stage"],
                        "properties": {"type": {}, "stage": _STAGE},
                        "additionalProperties": False,
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "event"}}},
                    "then": {
                        "required": ["event"],
                        "properties": {"type": {}, "event": {"type": "string"}, "where": _WHERE},
                        "additionalProperties": False,
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "segment"}}},
                    "then": {
                        "required": ["rule"],
                        "properties": {
                            "type": {},
                            "rule": _RULE,
                            "every": _DURATION,
                            "exit_on_leave": {"type": "boolean"},
                        },
                        "additionalProperties": False,
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "date"}}},
                    "then": {
                        "required": ["attribute", "local_time"],
                        "properties": {
                            "type": {},
                            "attribute": {"type": "string"},
                            "local_time": _TIME,
                        },
                        "additionalProperties": False,
                    },
                },
                {
                    "if": {"properties": {"type": {"const": "broadcast"}}},
                    "then": {
                        "properties": {"type": {}, "rule": _RULE},
                        "additionalProperties": False,
                    },
                },
            ],
        },
        "entry_rule": _RULE,
        "reentry": {
            "oneOf": [
                {"enum": ["never", "after_exit"]},
                {
                    "type": "object",
                    "required": ["after_days"],
                    "properties": {"after_days": {"type": "integer", "minimum": 1}},
                    "additionalProperties": False,
                },
            ]
        },
        "goal": {
            "type": "object",
            "required": ["event"],
            "properties": {"event": {"type": "string"}, "where": _WHERE},
            "additionalProperties": False,
        },
        "attribution_window": {
            **_DURATION,
            "description": "how long after an email a goal event is credited to it; default 5d",
        },
        "frequency_cap": {
            "type": "object",
            "properties": {
                "per_day": {"type": ["integer", "null"], "minimum": 1},
                "per_week": {"type": ["integer", "null"], "minimum": 1},
            },
            "additionalProperties": False,
        },
        "quiet_hours": {
            "oneOf": [
                {"type": "null"},
                {
                    "type": "object",
                    "required": ["start", "end"],
                    "properties": {"start": _TIME, "end": _TIME},
                    "additionalProperties": False,
                },
            ]
        },
        "start": _STEP_KEY,
        "steps": {
            "type": "object",
            "minProperties": 1,
            "propertyNames": {"maxLength": 64},
            "additionalProperties": {
                "type": "object",
                "required": ["type"],
                "properties": {"type": {"enum": list(STEP_TYPES)}},
                "allOf": [
                    _step(
                        "wait",
                        ["next"],
                        next=_STEP_KEY,
                        duration=_DURATION,
                        until={
                            "type": "object",
                            "required": ["local_time"],
                            "properties": {
                                "local_time": _TIME,
                                "weekdays": {
                                    "type": "array",
                                    "minItems": 1,
                                    "uniqueItems": True,
                                    "items": {
                                        "enum": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
                                    },
                                },
                            },
                            "additionalProperties": False,
                        },
                    ),
                    _step(
                        "wait_for_event",
                        ["event", "timeout", "next", "timeout_next"],
                        event={"type": "string"},
                        where=_WHERE,
                        timeout=_DURATION,
                        next=_STEP_KEY,
                        timeout_next=_STEP_KEY,
                    ),
                    _step(
                        "condition",
                        ["rule", "then", "else"],
                        rule=_RULE,
                        then=_STEP_KEY,
                        **{"else": _STEP_KEY},
                    ),
                    _step(
                        "split",
                        ["branches"],
                        experiment={"type": "string"},
                        holdout={"type": "number", "minimum": 0, "maximum": 100},
                        branches={
                            "type": "array",
                            "minItems": 1,
                            "items": {
                                "type": "object",
                                "required": ["name", "weight", "next"],
                                "properties": {
                                    "name": {"type": "string", "minLength": 1},
                                    "weight": {"type": "number", "exclusiveMinimum": 0},
                                    "next": _STEP_KEY,
                                },
                                "additionalProperties": False,
                            },
                        },
                    ),
                    _step(
                        "send_email",
                        ["message", "next"],
                        message={"type": "string"},
                        next=_STEP_KEY,
                    ),
                    _step(
                        "update",
                        ["next"],
                        next=_STEP_KEY,
                        stage=_STAGE,
                        attributes={"type": "object"},
                    ),
                    _step("goal", [], name={"type": "string"}, next=_STEP_KEY),
                    _step("exit", []),
                ],
            },
        },
    },
}


def _rules_as_objects(node):
    if node == _RULE:
        return {"type": "object"}
    if isinstance(node, dict):
        return {key: _rules_as_objects(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_rules_as_objects(value) for value in node]
    return node


#: What validation uses: the same schema with rules left to ``parse_rule``,
#: whose messages name the exact place in a rule ("all[2].event.within_days").
JOURNEY_SHAPE_SCHEMA = _rules_as_objects(JOURNEY_JSON_SCHEMA)
