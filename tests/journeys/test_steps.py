"""The step functions, with no database: state + context + now -> outcome."""

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from journeys.document import FrequencyCap, QuietHours, parse_journey
from journeys.steps import Context, Converted, Send, SetProfile, State, advance
from tests.journeys.documents import steps, welcome

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)  # a Monday
PARIS = ZoneInfo("Europe/Paris")
NO_CAP = FrequencyCap(None, None)


def ctx(**overrides) -> Context:
    values = dict(
        customer_id=7,
        time_zone=ZoneInfo("UTC"),
        matches=lambda rule: False,
        first_event=lambda match, since: None,
        recent_sends=(),
        frequency_cap=NO_CAP,
        quiet_hours=None,
    )
    values.update(overrides)
    return Context(**values)


def start(journey, at=NOW) -> State:
    return State(step=journey.start, since=at, visit=0, entered_at=at)


def test_it_sends_then_waits():
    journey = parse_journey(welcome())
    outcome = advance(journey, start(journey), ctx(), NOW)
    assert outcome.actions == (Send("welcome-1", "hello", 0),)
    assert outcome.state.step == "pause"
    assert outcome.due_at == NOW + timedelta(days=2)
    assert outcome.trail == (("hello", "sent"),)


def test_a_wait_moves_on_when_its_time_has_come():
    journey = parse_journey(welcome())
    waiting = State("pause", NOW, 1, NOW)
    assert advance(journey, waiting, ctx(), NOW + timedelta(days=1)).state.step == "pause"
    later = advance(journey, waiting, ctx(matches=lambda r: True), NOW + timedelta(days=2))
    assert later.ended == "completed"
    assert later.trail == (("pause", "waited"), ("bought", "then"), ("done", "exit"))


def test_the_split_is_deterministic_and_remembered():
    journey = parse_journey(welcome())
    state = State("nudge", NOW, 2, NOW)
    outcomes = {advance(journey, state, ctx(customer_id=c), NOW).trail[0][1] for c in range(200)}
    assert outcomes == {"discount", "story"}
    first = advance(journey, state, ctx(customer_id=42), NOW)
    assert first.trail == advance(journey, state, ctx(customer_id=42), NOW).trail


def test_a_holdout_leaves_and_gets_nothing():
    journey = parse_journey(
        steps(
            "s",
            s={
                "type": "split",
                "holdout": 100 - 1e-9,
                "branches": [{"name": "a", "weight": 1e-9, "next": "m"}],
            },
            m={"type": "send_email", "message": "x", "next": "e"},
            e={"type": "exit"},
        )
    )
    outcome = advance(journey, start(journey), ctx(), NOW)
    assert outcome.ended == "holdout" and outcome.actions == ()


def test_wait_for_event_takes_the_event_branch_or_the_timeout():
    journey = parse_journey(
        steps(
            "w",
            w={
                "type": "wait_for_event",
                "event": "purchase",
                "timeout": "3d",
                "next": "yes",
                "timeout_next": "no",
            },
            yes={"type": "goal", "name": "bought"},
            no={"type": "exit"},
        )
    )
    waiting = start(journey)
    blocked = advance(journey, waiting, ctx(), NOW + timedelta(days=1))
    assert blocked.state.step == "w" and blocked.due_at == NOW + timedelta(days=3)

    bought = advance(
        journey,
        waiting,
        ctx(first_event=lambda m, s: NOW + timedelta(hours=5)),
        NOW + timedelta(days=1),
    )
    assert bought.ended == "goal" and bought.actions == (Converted("yes", "bought"),)

    timed_out = advance(journey, waiting, ctx(), NOW + timedelta(days=3))
    assert timed_out.ended == "completed" and ("w", "timeout") in timed_out.trail


def test_it_leaves_at_once_when_consent_is_gone():
    journey = parse_journey(welcome())
    outcome = advance(journey, start(journey), ctx(must_exit="consent_withdrawn"), NOW)
    assert outcome.ended == "consent_withdrawn" and outcome.actions == ()


def test_reaching_the_journey_goal_exits_as_converted():
    journey = parse_journey(welcome(goal={"event": "purchase"}))
    outcome = advance(
        journey,
        State("pause", NOW, 1, NOW),
        ctx(first_event=lambda m, s: NOW + timedelta(hours=1)),
        NOW + timedelta(hours=2),
    )
    assert outcome.ended == "goal"
    assert outcome.actions == (Converted("pause", "goal"),)


def test_quiet_hours_defer_a_send_to_the_morning_in_the_customers_zone():
    journey = parse_journey(welcome())
    quiet = QuietHours(time(21, 0), time(8, 0))
    late_in_paris = datetime(2026, 6, 1, 20, 30, tzinfo=UTC)  # 22:30 in Paris (UTC+2)
    outcome = advance(
        journey,
        start(journey, late_in_paris),
        ctx(time_zone=PARIS, quiet_hours=quiet),
        late_in_paris,
    )
    assert outcome.actions == ()
    assert outcome.state.step == "hello"
    assert outcome.due_at == datetime(2026, 6, 2, 6, 0, tzinfo=UTC)  # 08:00 in Paris
    assert outcome.trail == (("hello", "deferred:quiet_hours"),)
    # The same instant is an ordinary afternoon in Los Angeles.
    la = advance(
        journey,
        start(journey, late_in_paris),
        ctx(time_zone=ZoneInfo("America/Los_Angeles"), quiet_hours=quiet),
        late_in_paris,
    )
    assert la.actions == (Send("welcome-1", "hello", 0),)


def test_the_frequency_cap_defers_until_a_slot_frees_up():
    journey = parse_journey(welcome())
    sends = (NOW - timedelta(hours=20), NOW - timedelta(hours=2))
    capped = advance(
        journey,
        start(journey),
        ctx(recent_sends=sends, frequency_cap=FrequencyCap(per_day=2, per_week=None)),
        NOW,
    )
    assert capped.actions == ()
    assert capped.due_at == NOW + timedelta(hours=4)  # when the 20-hour-old send turns 24
    weekly = advance(
        journey,
        start(journey),
        ctx(recent_sends=sends, frequency_cap=FrequencyCap(per_day=None, per_week=2)),
        NOW,
    )
    assert weekly.due_at == sends[0] + timedelta(weeks=1)
    free = advance(
        journey,
        start(journey),
        ctx(recent_sends=sends, frequency_cap=FrequencyCap(per_day=3, per_week=10)),
        NOW,
    )
    assert free.actions == (Send("welcome-1", "hello", 0),)


def test_a_wait_until_a_local_time_on_weekdays():
    journey = parse_journey(
        steps(
            "w",
            w={"type": "wait", "until": {"local_time": "09:30", "weekdays": ["sat"]}, "next": "e"},
            e={"type": "exit"},
        )
    )
    outcome = advance(journey, start(journey), ctx(time_zone=PARIS), NOW)
    assert outcome.due_at == datetime(2026, 6, 6, 7, 30, tzinfo=UTC)  # Saturday 09:30 Paris


def test_an_update_step_sets_the_stage_and_attributes():
    journey = parse_journey(
        steps(
            "u",
            u={
                "type": "update",
                "stage": "prospect",
                "attributes": {"welcomed": True},
                "next": "e",
            },
            e={"type": "exit"},
        )
    )
    outcome = advance(journey, start(journey), ctx(), NOW)
    assert outcome.actions == (SetProfile("u", "prospect", {"welcomed": True}),)
