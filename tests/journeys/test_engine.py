"""The engine on a real database: triggers, re-entry, exits, versions, caps."""

from datetime import UTC, datetime, timedelta

import pytest

from campaigns.models import Delivery
from config import clock
from customers.models import ConsentSource, Stage
from customers.services.consent import ConsentProof, consent_withdraw
from customers.services.events import EventInput, events_record
from customers.services.stage import stage_set
from customers.services.suppression import suppression_add
from journeys.engine import advance_due, run_until_idle
from journeys.models import Enrollment, StepCount
from journeys.services import journey_save
from tests.factories import CustomerFactory, email_marketing
from tests.journeys.documents import steps, welcome
from tests.journeys.helpers import T0, consented, live, run, sent_to


def test_entering_a_stage_starts_the_journey_for_that_stage(messages):
    journey = live(welcome())
    ann = consented(email="ann@example.com")
    stage_set(customer=ann, stage=Stage.PROSPECT, cause="test", at=T0)

    report = run(T0)

    assert report.enrolled == 1
    enrollment = Enrollment.objects.get(journey=journey, customer=ann)
    assert (enrollment.step, enrollment.due_at) == ("pause", T0 + timedelta(days=2))
    assert sent_to(ann) == ["welcome-1"]


def test_customers_without_consent_or_suppressed_never_enter(messages):
    live(welcome())
    never_asked = CustomerFactory()
    suppressed = consented(email="gone@example.com")
    suppression_add(email="gone@example.com", reason="complaint")
    for customer in (never_asked, suppressed):
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    assert not Enrollment.objects.exists()
    assert not Delivery.objects.exists()


def test_the_whole_journey_runs_on_the_clock(messages):
    live(welcome())
    buyer, browser = consented(), consented()
    for customer in (buyer, browser):
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    events_record(
        events=[EventInput(name="purchase", occurred_at=T0 + timedelta(days=1), email=buyer.email)],
        received_at=T0 + timedelta(days=1),
    )
    run(T0 + timedelta(days=2))

    assert sent_to(buyer) == ["welcome-1"]
    assert sent_to(browser) == ["welcome-1", "welcome-2"]
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}
    counts = dict(((c.step, c.outcome), c.count) for c in StepCount.objects.all())
    assert counts[("bought", "then")] == 1 and counts[("bought", "else")] == 1
    assert counts[("hello", "sent")] == 2


def test_an_event_trigger_honours_its_property_filter(messages):
    live(
        steps(
            "m",
            trigger={
                "type": "event",
                "event": "purchase",
                "where": [{"property": "sku", "op": "eq", "value": "teapot"}],
            },
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
    )
    ann, bob = consented(), consented()
    run(T0)  # routes the creation of both customers; nothing fires
    events_record(
        events=[
            EventInput(
                name="purchase", occurred_at=T0, email=ann.email, properties={"sku": "teapot"}
            ),
            EventInput(name="purchase", occurred_at=T0, email=bob.email, properties={"sku": "mug"}),
        ],
        received_at=T0,
    )
    run(T0)
    assert sent_to(ann) == ["m"] and sent_to(bob) == []


def test_events_before_activation_do_not_trigger(messages):
    ann = consented()
    events_record(
        events=[EventInput(name="signup", occurred_at=T0, email=ann.email)],
        received_at=T0 - timedelta(minutes=1),
    )
    live(
        steps(
            "m",
            trigger={"type": "event", "event": "signup"},
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
    )
    run(T0)
    assert not Enrollment.objects.exists()


def test_a_broadcast_enrolls_everyone_who_matches_when_activated(messages):
    loyal = [consented(attributes={"plan": "pro"}) for _ in range(3)]
    consented(attributes={"plan": "free"})
    CustomerFactory(attributes={"plan": "pro"})  # no consent
    journey = live(
        steps(
            "m",
            trigger={
                "type": "broadcast",
                "rule": {"field": "attributes.plan", "op": "eq", "value": "pro"},
            },
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
    )
    assert set(journey.enrollments.values_list("customer_id", flat=True)) == {c.pk for c in loyal}
    run(T0)
    assert Delivery.objects.count() == 3


def test_a_segment_trigger_enrolls_newcomers_and_lets_leavers_go(messages):
    rule = {"field": "attributes.vip", "op": "eq", "value": True}
    live(
        steps(
            "w",
            trigger={"type": "segment", "rule": rule, "every": "1h", "exit_on_leave": True},
            w={"type": "wait", "duration": "30d", "next": "e"},
            e={"type": "exit"},
        )
    )
    ann = consented(attributes={"vip": True})
    run(T0)
    assert Enrollment.objects.get().customer == ann
    ann.attributes = {"vip": False}
    ann.save()
    bob = consented(attributes={"vip": True})
    run(T0 + timedelta(minutes=30))  # not yet time to look again
    assert Enrollment.objects.count() == 1
    run(T0 + timedelta(hours=1))
    assert Enrollment.objects.get(customer=ann).exit_reason == "left_segment"
    assert Enrollment.objects.get(customer=bob).status == "active"


def test_a_birthday_trigger_fires_at_the_local_time_once_a_year(messages):
    live(
        steps(
            "m",
            trigger={"type": "date", "attribute": "birthday", "local_time": "09:00"},
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
    )
    tokyo = consented(time_zone="Asia/Tokyo", attributes={"birthday": "1990-06-02"})
    paris = consented(time_zone="Europe/Paris", attributes={"birthday": "1985-06-02"})
    consented(time_zone="Europe/Paris", attributes={"birthday": "1985-07-02"})
    # 2026-06-02 00:30 UTC is 09:30 in Tokyo but 02:30 in Paris.
    run(datetime(2026, 6, 2, 0, 30, tzinfo=UTC))
    assert sent_to(tokyo) == ["m"] and sent_to(paris) == []
    run(datetime(2026, 6, 2, 7, 5, tzinfo=UTC))  # 09:05 in Paris
    assert sent_to(paris) == ["m"]
    run(datetime(2026, 6, 2, 12, 0, tzinfo=UTC))
    assert Delivery.objects.count() == 2


@pytest.mark.parametrize(
    ("reentry", "second_time_enrolls"),
    [("never", False), ("after_exit", True), ({"after_days": 10}, False)],
)
def test_reentry_policy(messages, reentry, second_time_enrolls):
    live(
        steps(
            "m",
            trigger={"type": "event", "event": "visit"},
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
        | {"reentry": reentry}
    )
    ann = consented()
    for n, day in enumerate((0, 3)):
        at = T0 + timedelta(days=day)
        events_record(
            events=[
                EventInput(name="visit", occurred_at=at, email=ann.email, idempotency_key=f"v{n}")
            ],
            received_at=at,
        )
        run(at)
    assert Enrollment.objects.filter(customer=ann).count() == (2 if second_time_enrolls else 1)


def test_reentry_after_days_lets_them_back_in_later(messages):
    live(
        steps(
            "m",
            trigger={"type": "event", "event": "visit"},
            m={"type": "send_email", "message": "m", "next": "e"},
            e={"type": "exit"},
        )
        | {"reentry": {"after_days": 10}}
    )
    ann = consented()
    for n, day in enumerate((0, 11)):
        at = T0 + timedelta(days=day)
        events_record(
            events=[
                EventInput(name="visit", occurred_at=at, email=ann.email, idempotency_key=f"v{n}")
            ],
            received_at=at,
        )
        run(at)
    assert Enrollment.objects.filter(customer=ann).count() == 2


def test_unsubscribing_mid_journey_exits_before_the_next_email(messages):
    live(welcome())
    ann = consented()
    stage_set(customer=ann, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    consent_withdraw(
        customer=ann,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.UNSUBSCRIBE),
        at=T0 + timedelta(days=1),
    )
    run(T0 + timedelta(days=2))
    enrollment = Enrollment.objects.get(customer=ann)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "consent_withdrawn")
    assert sent_to(ann) == ["welcome-1"]


def test_customers_finish_on_the_version_they_entered(messages):
    journey = live(welcome())
    ann = consented()
    stage_set(customer=ann, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    edited = welcome()
    edited["steps"]["offer"]["message"] = "m"
    edited["steps"]["story"]["message"] = "m"
    v2 = journey_save(document=edited, at=T0 + timedelta(hours=1))
    assert v2.number == 2
    journey.refresh_from_db()
    assert journey.live_version == v2
    bob = consented()
    stage_set(customer=bob, stage=Stage.PROSPECT, cause="test", at=T0 + timedelta(hours=1))
    run(T0 + timedelta(hours=1))
    run(T0 + timedelta(days=3))
    assert Enrollment.objects.get(customer=ann).version.number == 1
    assert Enrollment.objects.get(customer=bob).version.number == 2
    assert sent_to(ann) == ["welcome-1", "welcome-2"]
    assert sent_to(bob) == ["welcome-1", "m"]


def test_the_frequency_cap_holds_across_journeys(messages, settings):
    settings.LADDER_FREQUENCY_CAP_PER_DAY = 1
    for key in ("one", "two"):
        live(
            steps(
                "m",
                trigger={"type": "event", "event": "go"},
                m={"type": "send_email", "message": "m", "next": "e"},
                e={"type": "exit"},
            )
            | {"key": key, "name": key}
        )
    ann = consented()
    events_record(events=[EventInput(name="go", occurred_at=T0, email=ann.email)], received_at=T0)
    run(T0)
    assert Delivery.objects.count() == 1
    waiting = Enrollment.objects.get(status="active")
    assert waiting.due_at == T0 + timedelta(days=1)
    run(T0 + timedelta(days=1))
    assert Delivery.objects.count() == 2


def test_quiet_hours_defer_by_the_customers_time_zone(messages, settings):
    settings.LADDER_QUIET_HOURS = "21:00-08:00"
    document = steps(
        "m",
        trigger={"type": "event", "event": "go"},
        m={"type": "send_email", "message": "m", "next": "e"},
        e={"type": "exit"},
    )
    del document["quiet_hours"]  # use the site-wide setting
    live(document)
    tokyo = consented(time_zone="Asia/Tokyo")
    london = consented(time_zone="Europe/London")
    at = datetime(2026, 6, 1, 14, 0, tzinfo=UTC)  # 23:00 in Tokyo, 15:00 in London
    events_record(
        events=[EventInput(name="go", occurred_at=at, email=c.email) for c in (tokyo, london)],
        received_at=at,
    )
    run(at)
    assert sent_to(london) == ["m"] and sent_to(tokyo) == []
    assert Enrollment.objects.get(customer=tokyo).due_at == datetime(2026, 6, 1, 23, 0, tzinfo=UTC)
    run(datetime(2026, 6, 1, 23, 0, tzinfo=UTC))  # 08:00 in Tokyo
    assert sent_to(tokyo) == ["m"]


def test_a_goal_event_exits_and_counts_a_conversion(messages):
    live(welcome(goal={"event": "purchase"}))
    ann = consented()
    stage_set(customer=ann, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    at = T0 + timedelta(hours=3)
    events_record(
        events=[EventInput(name="purchase", occurred_at=at, email=ann.email)], received_at=at
    )
    run(at)
    enrollment = Enrollment.objects.get(customer=ann)
    assert (enrollment.exit_reason, enrollment.converted_at) == ("goal", at)


def test_wait_for_event_wakes_up_when_the_event_arrives(messages):
    live(
        steps(
            "w",
            trigger={"type": "event", "event": "cart"},
            w={
                "type": "wait_for_event",
                "event": "purchase",
                "timeout": "3d",
                "next": "thanks",
                "timeout_next": "remind",
            },
            thanks={"type": "send_email", "message": "welcome-1", "next": "e"},
            remind={"type": "send_email", "message": "welcome-2", "next": "e"},
            e={"type": "exit"},
        )
    )
    ann, bob = consented(), consented()
    events_record(
        events=[EventInput(name="cart", occurred_at=T0, email=c.email) for c in (ann, bob)],
        received_at=T0,
    )
    run(T0)
    at = T0 + timedelta(hours=5)
    events_record(
        events=[EventInput(name="purchase", occurred_at=at, email=ann.email)], received_at=at
    )
    run(at)
    assert sent_to(ann) == ["welcome-1"] and sent_to(bob) == []
    run(T0 + timedelta(days=3))
    assert sent_to(bob) == ["welcome-2"]


def test_advancing_twice_at_the_same_time_sends_once(messages):
    live(welcome())
    customers = [consented() for _ in range(20)]
    for customer in customers:
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    with clock.simulated(T0):
        run_until_idle(now=T0)
        assert advance_due(now=T0).advanced == 0
        Enrollment.objects.update(due_at=T0, step="hello", visit=0)  # a replayed advance
        advance_due(now=T0)
    assert Delivery.objects.count() == 20


def test_a_batch_takes_a_bounded_number_of_queries(messages, django_assert_max_num_queries):
    live(welcome())
    for _ in range(60):
        customer = consented()
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    with clock.simulated(T0):
        run_until_idle(now=T0)
    Enrollment.objects.update(due_at=T0 + timedelta(days=2))
    with clock.simulated(T0 + timedelta(days=2)), django_assert_max_num_queries(30):
        report = advance_due(now=T0 + timedelta(days=2))
    assert report.advanced == 60


def test_the_branch_taken_is_kept_when_the_journey_ends(messages):
    live(welcome())
    customers = [consented() for _ in range(30)]
    for customer in customers:
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    run(T0)
    run(T0 + timedelta(days=2))
    branches = [e.branches.get("welcome-nudge") for e in Enrollment.objects.all()]
    assert set(branches) == {"discount", "story"}
    assert set(Enrollment.objects.values_list("status", flat=True)) == {"completed"}


def test_an_update_step_moves_the_stage_and_merges_attributes(messages):
    live(
        steps(
            "u",
            trigger={"type": "event", "event": "signup"},
            u={
                "type": "update",
                "stage": "prospect",
                "attributes": {"welcomed": True},
                "next": "e",
            },
            e={"type": "exit"},
        )
    )
    ann = consented(attributes={"city": "Lyon"})
    events_record(
        events=[EventInput(name="signup", occurred_at=T0, email=ann.email)], received_at=T0
    )
    run(T0)
    ann.refresh_from_db()
    assert ann.stage == Stage.PROSPECT
    assert ann.attributes == {"city": "Lyon", "welcomed": True}
    change = ann.stage_changes.get(to_stage=Stage.PROSPECT)
    assert change.cause == "journey t, step u"
