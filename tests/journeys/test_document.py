"""Journey documents are validated, and every problem names its step."""

import json
from pathlib import Path

import pytest

from journeys.document import JourneyInvalid, parse_journey
from journeys.schema import JOURNEY_JSON_SCHEMA
from tests.journeys.documents import steps, welcome


def _problems(document) -> list[str]:
    with pytest.raises(JourneyInvalid) as exc:
        parse_journey(document)
    return exc.value.problems


def test_a_valid_journey_parses_into_typed_steps():
    journey = parse_journey(welcome())
    assert journey.start == "hello"
    assert journey.steps["pause"].duration.days == 2
    assert [b.name for b in journey.steps["nudge"].branches] == ["discount", "story"]
    assert journey.messages() == {"welcome-1", "welcome-2"}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (steps("a", a={"type": "wiat", "next": "b"}, b={"type": "exit"}), "steps.a.type"),
        (steps("a", a={"type": "send_email", "message": "m"}), "steps.a: 'next' is a required"),
        (
            steps("a", a={"type": "wait", "duration": "1d", "next": "zz"}),
            "steps.a: 'next' points to 'zz', which is not a step",
        ),
        (
            steps("a", a={"type": "exit"}, b={"type": "exit"}),
            "steps.b: unreachable from the start step 'a'",
        ),
        (
            steps(
                "a",
                a={
                    "type": "condition",
                    "rule": {"stage": {"is": "loyal"}},
                    "then": "b",
                    "else": "a",
                },
                b={"type": "exit"},
            ),
            "loop with no wait in it (a → a)",
        ),
        (
            steps(
                "a",
                a={
                    "type": "split",
                    "branches": [
                        {"name": "x", "weight": 60, "next": "b"},
                        {"name": "y", "weight": 30, "next": "b"},
                    ],
                },
                b={"type": "exit"},
            ),
            "steps.a: branch weights plus holdout add up to 90, not 100",
        ),
        (
            steps(
                "a",
                a={
                    "type": "condition",
                    "rule": {"field": "shoe_size", "op": "eq", "value": 3},
                    "then": "b",
                    "else": "b",
                },
                b={"type": "exit"},
            ),
            "steps.a:",
        ),
        (
            steps(
                "a", a={"type": "wait", "duration": "3 fortnights", "next": "b"}, b={"type": "exit"}
            ),
            "steps.a.duration",
        ),
        (steps("nope", a={"type": "exit"}), "start: there is no step 'nope'"),
        ({**welcome(), "colour": "red"}, "journey: Additional properties are not allowed"),
        (welcome(trigger={"type": "stage_entered", "stage": "vip"}), "trigger.stage"),
    ],
)
def test_it_rejects_bad_documents_naming_the_step(document, expected):
    problems = _problems(document)
    assert any(expected in problem for problem in problems), problems


def test_a_loop_through_a_wait_is_allowed():
    document = steps(
        "remind",
        remind={"type": "send_email", "message": "m", "next": "later"},
        later={"type": "wait", "duration": "7d", "next": "remind"},
    )
    assert parse_journey(document).start == "remind"


def test_the_published_schema_is_the_one_the_code_uses():
    published = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "journey.schema.json"
    assert json.loads(published.read_text()) == JOURNEY_JSON_SCHEMA
