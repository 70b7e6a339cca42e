"""simulate_journey: a draft journey replayed over stored history, nothing written."""

import json
import re
import shlex
from collections import Counter
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
import time_machine
from django.core.management import CommandError, ManagementUtility, call_command
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext

from campaigns.models import Delivery, Message
from customers.bucketing import pick
from customers.models import ConsentRecord, ConsentSource, Customer, Event, Stage, StageChange
from customers.rules import rule_matches
from customers.services.consent import ConsentProof, consent_grant, consent_withdraw
from customers.services.erasure import customer_erase
from customers.services.stage import stage_set
from customers.services.suppression import suppression_add
from journeys import simulation
from journeys.document import JourneyInvalid, parse_journey
from journeys.models import Enrollment, Journey, JourneyVersion, StepCount
from journeys.simulation import _customers_load, _Replay, journey_simulate
from tests.factories import CustomerFactory, EventFactory, email_marketing
from tests.journeys.documents import steps, welcome
from tests.journeys.helpers import T0, consented

DOC = Path(__file__).resolve().parents[2] / "docs" / "simulation.md"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
AB = [("A", 1), ("B", 1)]

TEAPOT = steps(
    "m",
    trigger={
        "type": "event",
        "event": "purchase",
        "where": [{"property": "sku", "op": "eq", "value": "teapot"}],
    },
    m={"type": "send_email", "message": "m", "next": "e"},
    e={"type": "exit"},
)


@pytest.fixture(autouse=True)
def clock():
    """Customers, consents and suppressions are set up the day before the
    window [T0, T0 + 30d] opens; tests that need "now" move the clock."""
    with time_machine.travel(T0 - DAY, tick=False) as traveller:
        yield traveller


def simulate(document, *, days=30, **options):
    return journey_simulate(document=document, start=T0, end=T0 + days * DAY, **options)


def purchase(customer, at, **properties):
    EventFactory(customer=customer, name="purchase", occurred_at=at, properties=properties)


def becomes_prospect(*customers, at=T0 + HOUR):
    for customer in customers:
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=at)


def variants(message, customers):
    counts = Counter(pick(f"message:{message}", c.pk, AB) for c in customers)
    return {"A": counts["A"], "B": counts["B"]}


def write(tmp_path, document):
    path = tmp_path / "journey.json"
    path.write_text(json.dumps(document))
    return path


def command(*args):
    out = StringIO()
    call_command("simulate_journey", *map(str, args), "--no-progress", stdout=out)
    return out.getvalue()


# --- What is replayed --------------------------------------------------------


def test_it_replays_stored_events_and_counts_the_sends_of_each_variant(messages):
    buyers = [consented() for _ in range(12)]
    for buyer in buyers:
        purchase(buyer, T0 + 3 * DAY, sku="teapot")
    purchase(consented(), T0 + 3 * DAY, sku="mug")
    purchase(consented(), T0 - HOUR, sku="teapot")  # before the window
    purchase(consented(), T0 + 31 * DAY, sku="teapot")  # after it

    report = simulate(TEAPOT)

    assert report.enrolled == 12
    assert report.steps == {"m": {"sent": 12}, "e": {"exit": 12}}
    assert report.sends == {"m": variants("m", buyers)}
    assert report.exits == {"completed": 12}
    assert (report.customers, report.population) == (15, 15)


def test_it_decides_conditions_on_what_had_happened_by_then(messages):
    early, late = consented(), consented()
    becomes_prospect(early, late)
    purchase(early, T0 + DAY)
    purchase(late, T0 + 5 * DAY)  # stored, but after the condition on day two

    report = simulate(welcome())

    assert report.steps["bought"] == {"then": 1, "else": 1}
    assert sum(report.sends["welcome-1"].values()) == 2
    assert sum(report.sends["welcome-2"].values()) == 1


def test_it_moves_on_when_the_awaited_event_happens_or_the_wait_times_out(messages):
    prompt, idle, slow = consented(), consented(), consented()
    purchase(prompt, T0 + DAY)
    purchase(idle, T0 - HOUR)  # before the wait began
    purchase(slow, T0 + 4 * DAY)  # after the three days
    document = steps(
        "watch",
        watch={
            "type": "wait_for_event",
            "event": "purchase",
            "timeout": "3d",
            "next": "thanks",
            "timeout_next": "nudge",
        },
        thanks={"type": "send_email", "message": "m", "next": "e"},
        nudge={"type": "send_email", "message": "welcome-1", "next": "e"},
        e={"type": "exit"},
    )

    report = simulate(document)

    assert report.steps["watch"] == {"event": 1, "timeout": 2}
    assert report.sends["m"] == variants("m", [prompt])
    assert report.sends["welcome-1"] == variants("welcome-1", [idle, slow])


def test_it_leaves_enrollments_waiting_where_the_window_closes(messages):
    becomes_prospect(consented())

    report = simulate(welcome(), days=1)

    assert report.steps["hello"] == {"sent": 1}
    assert report.steps["pause"] == {}
    assert report.in_progress == {"pause": 1}
    assert report.exits == {}


def test_it_counts_customers_per_split_branch(messages):
    browsers = [consented() for _ in range(8)]
    becomes_prospect(*browsers)

    report = simulate(welcome())

    branches = Counter(
        pick("welcome-nudge", c.pk, [("discount", 50), ("story", 50)]) for c in browsers
    )
    assert report.splits == {
        "nudge": {"discount": branches["discount"], "story": branches["story"]}
    }
    assert report.steps["offer"] == ({"sent": branches["discount"]} if branches["discount"] else {})
    assert sum(report.sends["welcome-2"].values()) == 8


def test_it_counts_a_conversion_when_the_goal_event_happens(messages):
    buyer, browser = consented(), consented()
    becomes_prospect(buyer, browser)
    purchase(buyer, T0 + DAY)

    report = simulate(welcome(goal={"event": "purchase"}))

    assert report.conversions == {"goal": 1}
    assert report.exits == {"goal": 1, "completed": 1}
    assert report.steps["bought"] == {"else": 1}


def test_it_does_not_count_the_triggering_event_as_its_own_goal(messages):
    buyer = consented()
    purchase(buyer, T0 + DAY, sku="teapot")

    report = simulate({**TEAPOT, "goal": {"event": "purchase"}})

    assert report.conversions == {}
    assert report.exits == {"completed": 1}


def test_it_lets_later_steps_see_what_an_update_step_changed(messages):
    consented()
    document = steps(
        "mark",
        mark={"type": "update", "attributes": {"vip": True}, "next": "later"},
        later={"type": "wait", "duration": "1h", "next": "vip"},
        vip={
            "type": "condition",
            "rule": {"field": "attributes.vip", "op": "eq", "value": True},
            "then": "m",
            "else": "e",
        },
        m={"type": "send_email", "message": "m", "next": "e"},
        e={"type": "exit"},
    )

    report = simulate(document)

    assert report.steps["vip"] == {"then": 1}
    assert Customer.objects.get().attributes == {}


def test_it_enrolls_a_broadcast_as_matched_when_the_window_opened(messages):
    pro = [consented(attributes={"plan": "pro"}) for _ in range(2)]
    consented(attributes={"plan": "free"})
    late = CustomerFactory(attributes={"plan": "pro"})
    consent_grant(
        customer=late, topic=email_marketing(), proof=ConsentProof(ConsentSource.FORM), at=T0 + DAY
    )
    document = steps(
        "m",
        trigger={
            "type": "broadcast",
            "rule": {"field": "attributes.plan", "op": "eq", "value": "pro"},
        },
        m={"type": "send_email", "message": "m", "next": "e"},
        e={"type": "exit"},
    )

    report = simulate(document)

    assert report.enrolled == 2
    assert report.sends == {"m": variants("m", pro)}


def test_it_refreshes_a_segment_on_the_virtual_clock_and_lets_leavers_go(messages):
    ann = consented()
    consented()  # never buys, never in the segment
    purchase(ann, T0 + 5 * DAY + HOUR)
    document = steps(
        "w",
        trigger={
            "type": "segment",
            "rule": {"event": {"name": "purchase", "within_days": 2}},
            "every": "1d",
            "exit_on_leave": True,
        },
        w={"type": "wait", "duration": "30d", "next": "e"},
        e={"type": "exit"},
    )

    report = simulate(document)

    # In the segment at the checks of days 6 and 7, out again on day 8.
    assert report.enrolled == 1
    assert report.exits == {"left_segment": 1}
    assert report.in_progress == {}


def test_it_fires_date_triggers_on_anniversaries_inside_the_window(messages):
    consented(time_zone="Asia/Tokyo", attributes={"birthday": "1990-06-10"})
    consented(attributes={"birthday": "1990-08-01"})  # after the window
    consented(attributes={"birthday": "not a date"})
    document = steps(
        "m",
        trigger={"type": "date", "attribute": "birthday", "local_time": "09:00"},
        m={"type": "send_email", "message": "m", "next": "e"},
        e={"type": "exit"},
    )

    assert simulate(document).enrolled == 1


# --- Who may enter, and stay -------------------------------------------------


def test_it_never_enrolls_customers_without_consent_at_the_time(messages):
    never_asked = CustomerFactory()
    suppressed = consented(email="gone@example.com")
    suppression_add(email="gone@example.com", reason="complaint")
    too_late = CustomerFactory()
    consent_grant(
        customer=too_late,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.FORM),
        at=T0 + DAY,
    )
    erased = consented()
    becomes_prospect(never_asked, suppressed, too_late, erased)
    customer_erase(customer=erased)

    report = simulate(welcome())

    assert report.enrolled == 0
    assert report.emails == 0
    assert report.customers == 3  # the erased customer is not considered at all


def test_it_judges_consent_as_it_was_at_the_time(messages):
    ann = consented()
    becomes_prospect(ann)
    consent_withdraw(
        customer=ann,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.UNSUBSCRIBE),
        at=T0 + 40 * DAY,
    )

    report = simulate(welcome())

    assert report.enrolled == 1
    assert report.exits == {"completed": 1}


def test_it_stops_a_customer_who_withdraws_consent_mid_window(messages):
    ann = consented()
    becomes_prospect(ann)
    consent_withdraw(
        customer=ann,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.UNSUBSCRIBE),
        at=T0 + DAY,
    )

    report = simulate(welcome())

    assert report.exits == {"consent_withdrawn": 1}
    assert report.sends["welcome-1"] == variants("welcome-1", [ann])
    assert report.sends["welcome-2"] == {"A": 0, "B": 0}


def test_it_counts_real_emails_of_other_journeys_towards_the_cap(messages, settings):
    settings.LADDER_FREQUENCY_CAP_PER_DAY = 1
    ann, bob = consented(), consented()
    becomes_prospect(ann, bob)
    message = Message.objects.get(key="m")
    for customer, journey_key in ((ann, "other"), (bob, "welcome")):
        Delivery.objects.create(
            customer=customer,
            message=message,
            variant=message.variants.first(),
            status=Delivery.Status.SENT,
            journey_key=journey_key,
            queued_at=T0 + HOUR / 2,
        )

    report = simulate(welcome())

    # Bob's email came from (an earlier version of) this very journey: it is replaced.
    assert report.steps["hello"] == {"sent": 2, "deferred:frequency_cap": 1}


def test_it_takes_quiet_hours_from_the_site_setting_by_default(messages, settings):
    settings.LADDER_QUIET_HOURS = "21:00-08:00"
    purchase(consented(), T0 + 10 * HOUR, sku="teapot")  # 22:00 UTC
    document = {key: value for key, value in TEAPOT.items() if key != "quiet_hours"}

    report = simulate(document)

    assert report.steps["m"] == {"sent": 1, "deferred:quiet_hours": 1}


def test_it_replays_a_stable_sample_with_limit(messages):
    becomes_prospect(*[consented() for _ in range(10)])

    first = simulate(welcome(), limit=4)

    assert (first.customers, first.population, first.sampled) == (4, 10, True)
    assert first.enrolled == 4
    assert simulate(welcome(), limit=4) == first


def test_it_remembers_rule_answers_only_while_they_cannot_change(messages, monkeypatch):
    ann = consented(last_purchase_at=T0 + 2 * DAY)
    for day, value in ((1, 15), (2, 10), (9, 30)):
        EventFactory(
            customer=ann, name="purchase", occurred_at=T0 + day * (DAY + HOUR), value=value
        )
    becomes_prospect(ann, at=T0 + 5 * DAY)
    consent_withdraw(
        customer=ann,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.UNSUBSCRIBE),
        at=T0 + 7 * DAY,
    )
    rules = [
        {"event": {"name": "purchase", "within_days": 2}},
        {"event": {"name": "purchase", "within_days": 3, "sum": {"gte": 20}}},
        {"days_since_last_purchase": {"gt": 3, "lte": 9}},
        {"field": "last_purchase_at", "op": "gt", "value": {"days_ago": 4}},
        {"stage": {"is": "prospect", "entered_within_days": 2}},
        {"consent": {"topic": "email_marketing", "status": "granted"}},
        {"not": {"event": {"name": "purchase", "count": {"gte": 2}}}},
    ]
    conditions = {
        f"c{i}": {"type": "condition", "rule": rule, "then": f"c{i + 1}", "else": f"c{i + 1}"}
        for i, rule in enumerate(rules)
    }
    spec = parse_journey(steps("c0", **conditions, **{f"c{len(rules)}": {"type": "exit"}}))
    _, customers = _customers_load(spec, start=T0, end=T0 + 14 * DAY, limit=None)
    replay = _Replay(spec, customers, {}, start=T0, end=T0 + 14 * DAY, progress=None)
    evaluated = []
    monkeypatch.setattr(
        simulation, "rule_matches", lambda *a, **kw: evaluated.append(a) or rule_matches(*a, **kw)
    )

    checks = 0
    for minutes in range(0, 14 * 24 * 60, 20):  # every 20 minutes, hitting the boundaries
        when = T0 + timedelta(minutes=minutes)
        for rule in spec.condition_rules():
            fresh = rule_matches(rule, customers[0].facts_at(when), now=when)
            assert replay.matches(customers[0], rule, when) == fresh, (rule, when)
            checks += 1

    assert len(evaluated) < checks / 20


# --- Reading, not writing ------------------------------------------------------


def test_it_writes_nothing(tmp_path, messages):
    ann = consented()
    becomes_prospect(ann)
    purchase(ann, T0 + DAY)
    tables = (Enrollment, Delivery, StepCount, Customer, Event, StageChange, ConsentRecord)
    tables += (Journey, JourneyVersion)
    before = [model.objects.count() for model in tables]

    with CaptureQueriesContext(connection) as queries:
        command(write(tmp_path, welcome()), "--start", T0.isoformat())

    assert [model.objects.count() for model in tables] == before
    writes = ("INSERT", "UPDATE", "DELETE")
    assert [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith(writes)] == []


def test_it_reads_in_bulk_whatever_the_number_of_customers(messages):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            simulate(welcome(goal={"event": "purchase"}))
        return len(captured)

    ann = consented()
    becomes_prospect(ann)
    purchase(ann, T0 + DAY)
    few = queries()
    for _ in range(6):
        customer = consented()
        becomes_prospect(customer)
        purchase(customer, T0 + DAY)
    assert queries() == few


# --- The command ---------------------------------------------------------------


def test_it_prints_counts_per_step_and_per_variant(tmp_path, messages):
    ann, bob = consented(), consented()
    becomes_prospect(ann, bob)

    out = command(write(tmp_path, welcome()), "--start", T0.isoformat())

    assert "replayed from 2026-06-01 12:00 to 2026-07-01 12:00 UTC" in out
    assert re.search(r"^  hello +sent +2$", out, re.M)
    assert re.search(r"^  bought +else +2$", out, re.M)
    counts = variants("welcome-1", [ann, bob])
    assert re.search(rf"^  welcome-1 +A {counts['A']}   B {counts['B']}$", out, re.M)
    assert re.search(r"^  completed +2$", out, re.M)


def test_it_prints_the_report_as_json(tmp_path, messages):
    becomes_prospect(consented())

    out = command(write(tmp_path, welcome()), "--start", T0.isoformat(), "--format", "json")

    report = json.loads(out)
    assert set(report) == {
        "journey",
        "name",
        "window",
        "customers",
        "enrolled",
        "emails",
        "steps",
        "exits",
        "in_progress",
        "conversions",
        "sends",
        "splits",
    }
    assert report["window"] == {"start": T0.isoformat(), "end": (T0 + 30 * DAY).isoformat()}
    assert report["customers"] == {"considered": 1, "population": 1}
    assert list(report["steps"]) == ["hello", "pause", "bought", "done", "nudge", "offer", "story"]
    assert report["steps"]["hello"] == {"sent": 1}
    assert set(report["sends"]) == {"welcome-1", "welcome-2"}
    assert set(report["sends"]["welcome-1"]) == {"A", "B"}
    assert set(report["splits"]["nudge"]) == {"discount", "story"}
    assert (report["enrolled"], report["emails"]) == (1, 2)


def test_it_replays_the_last_days_up_to_now_by_default(tmp_path, messages, clock):
    becomes_prospect(consented())
    clock.move_to(T0 + 10 * DAY)

    report = json.loads(command(write(tmp_path, welcome()), "--days", "10", "--format", "json"))

    assert report["window"] == {"start": T0.isoformat(), "end": (T0 + 10 * DAY).isoformat()}
    assert report["enrolled"] == 1


def test_it_refuses_an_invalid_document_and_lists_every_problem(tmp_path, messages):
    broken = welcome(topic="newsletter")
    broken["steps"]["offer"]["message"] = "no-such-message"

    with pytest.raises(CommandError) as exc:
        command(write(tmp_path, broken))

    assert "not a valid journey; nothing was simulated" in str(exc.value)
    assert "  - topic: there is no consent topic 'newsletter'" in str(exc.value)
    assert "  - steps.offer: there is no message 'no-such-message'" in str(exc.value)
    with pytest.raises(JourneyInvalid, match="start: there is no step 'nowhere'"):
        simulate(welcome(start="nowhere"))


def test_it_exits_non_zero_on_an_invalid_document(tmp_path, messages, capsys, monkeypatch):
    # run_from_argv closes connections when done; the test's transaction needs its own.
    monkeypatch.setattr(connections, "close_all", lambda: None)
    broken = welcome()
    broken["steps"]["hello"]["next"] = "nowhere"
    argv = ["manage.py", "simulate_journey", str(write(tmp_path, broken)), "--no-progress"]

    with pytest.raises(SystemExit) as exc:
        ManagementUtility(argv).execute()

    assert exc.value.code == 1
    assert "steps.hello: 'next' points to 'nowhere'" in capsys.readouterr().err


def test_it_says_what_is_wrong_with_the_arguments(tmp_path, messages):
    path = write(tmp_path, welcome())
    with pytest.raises(CommandError, match="no such file"):
        command(tmp_path / "missing.json")
    with pytest.raises(CommandError, match="not an ISO 8601"):
        command(path, "--start", "last tuesday")
    with pytest.raises(CommandError, match="--days must be at least 1"):
        command(path, "--days", "0")


def _blocks(kind: str) -> list[str]:
    return re.findall(rf"```{kind}\n(.*?)```", DOC.read_text(), re.S)


def test_it_runs_the_commands_in_the_docs_and_prints_what_they_show(tmp_path, messages):
    lines = [line for block in _blocks("sh") for line in block.splitlines() if line.strip()]
    assert len(lines) >= 3
    becomes_prospect(consented())
    path = write(tmp_path, welcome())
    outputs = []
    for line in lines:
        argv = shlex.split(line)
        assert argv[:3] == ["python", "manage.py", "simulate_journey"], line
        outputs.append(command(*[path if a.endswith(".json") else a for a in argv[3:]]))

    (example,) = [block for block in _blocks("text") if block.startswith("Journey ")]
    headings = [line for line in example.splitlines()[1:] if line and not line.startswith(" ")]
    assert len(headings) >= 6
    assert all(heading in outputs[0].splitlines() for heading in headings)
    (shape,) = _blocks("json")
    assert set(json.loads(shape)) == set(json.loads(outputs[-1]))


def test_it_reports_errors_as_the_docs_show(tmp_path, messages):
    (example,) = [block for block in _blocks("text") if "not a valid journey" in block]
    broken = welcome()
    broken["steps"]["offer"]["message"] = "welcome-9"
    path = tmp_path / "welcome.json"
    path.write_text(json.dumps(broken))

    with pytest.raises(CommandError) as exc:
        command(path)

    assert str(exc.value).replace(str(path), "welcome.json") == example.strip()
