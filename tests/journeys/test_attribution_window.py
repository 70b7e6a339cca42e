"""The optional attribution window of a journey document."""

from datetime import timedelta

import pytest

from journeys.document import DEFAULT_ATTRIBUTION_WINDOW, JourneyInvalid, parse_journey
from tests.journeys.documents import welcome


def test_it_defaults_to_five_days():
    journey = parse_journey(welcome(goal={"event": "purchase"}))
    assert journey.attribution_window == DEFAULT_ATTRIBUTION_WINDOW == timedelta(days=5)


def test_a_journey_sets_its_own():
    document = welcome(goal={"event": "purchase"}, attribution_window="36h")
    assert parse_journey(document).attribution_window == timedelta(hours=36)


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        (
            {"goal": {"event": "purchase"}, "attribution_window": "5 days"},
            "attribution_window: '5 days' does not match",
        ),
        (
            {"attribution_window": "5d"},
            "attribution_window: only a journey with a goal has conversions to credit",
        ),
    ],
)
def test_a_bad_window_is_refused(fields, problem):
    with pytest.raises(JourneyInvalid) as exc:
        parse_journey(welcome(**fields))
    assert any(p.startswith(problem) for p in exc.value.problems), exc.value.problems
