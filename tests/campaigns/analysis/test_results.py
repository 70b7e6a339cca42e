"""Experiment results from the database: counts per arm, comparisons, decisions."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.analysis.experiments import UnknownExperiment, experiment_get, experiments_list
from campaigns.analysis.results import ResultsError, experiment_results
from campaigns.dispatch import dispatch_batch
from campaigns.models import Conversion, Delivery, Variant
from config import clock
from customers.models import Stage
from customers.services.events import EventInput, events_record
from customers.services.stage import stage_set
from journeys.models import Enrollment
from tests.campaigns.analysis.helpers import consented, convert, deliveries, enroll
from tests.journeys.documents import welcome
from tests.journeys.helpers import T0, live, run


def test_it_lists_multi_variant_messages_and_split_steps(messages):
    live(welcome())
    keys = [experiment.key for experiment in experiments_list()]
    assert keys == ["message:m", "message:welcome-1", "message:welcome-2", "journey:welcome:nudge"]


@pytest.mark.parametrize(
    ("key", "error"),
    [
        ("message:nope", "there is no message 'nope'"),
        ("journey:nope:nudge", "there is no journey 'nope'"),
        ("journey:welcome:hello", "journey 'welcome' has no split step 'hello'"),
        ("nudge", "'nudge' is not an experiment: use message:<message key>"),
    ],
)
def test_an_unknown_experiment_says_why(messages, key, error):
    live(welcome())
    with pytest.raises(UnknownExperiment, match=error):
        experiment_results(key)


def test_a_message_with_one_variant_is_no_experiment(messages):
    Variant.objects.filter(message__key="m", key="B").delete()
    with pytest.raises(UnknownExperiment, match="fewer than two variants"):
        experiment_results("message:m")


def test_it_counts_each_variant_in_sql(messages):
    a = deliveries("m", "A", 10, delivered=8, opened=6, clicked=3, unsubscribed=1, complained=1)
    deliveries("m", "A", 2, sent=False)
    b = deliveries("m", "B", 12, opened=9, clicked=5)
    convert(a[0], Decimal("10.00"), "EUR")
    convert(a[0], Decimal("5.00"), "EUR")
    convert(a[1], Decimal("7.00"), "USD")
    convert(b[0])

    result = experiment_results("message:m")

    arm_a, arm_b = result.arms
    assert (arm_a.name, arm_a.is_control, arm_a.units, arm_a.sent) == ("A", True, 10, 10)
    counts = {name: (m.count, m.total) for name, m in arm_a.metrics.items()}
    assert counts == {
        "delivered": (8, 10),
        "opens": (6, 10),
        "clicks": (3, 10),
        "conversions": (2, 10),
        "unsubscribes": (1, 10),
        "complaints": (1, 10),
    }
    assert arm_a.conversions == 3
    assert arm_a.revenue == {"EUR": Decimal("15.00"), "USD": Decimal("7.00")}
    assert (arm_b.metrics["opens"].count, arm_b.metrics["conversions"].count) == (9, 1)
    assert arm_b.revenue == {}


def test_challengers_are_compared_with_control(messages):
    deliveries("m", "A", 100, clicked=10)
    deliveries("m", "B", 100, clicked=20)
    control, b = experiment_results("message:m").arms
    assert control.metrics["clicks"].lift is None
    clicks = b.metrics["clicks"]
    assert clicks.lift == pytest.approx(1.0)
    assert clicks.lift_low < 1.0 < clicks.lift_high
    assert 0 < clicks.p_value < clicks.always_valid_p <= 1
    assert 0.9 < clicks.prob_beat_control < 1


def test_lower_is_better_for_unsubscribes(messages):
    deliveries("m", "A", 100, unsubscribed=10)
    deliveries("m", "B", 100, unsubscribed=2)
    b = experiment_results("message:m").arms[1]
    assert b.metrics["unsubscribes"].prob_beat_control > 0.9


def test_another_arm_can_be_the_control(messages):
    deliveries("m", "A", 10)
    deliveries("m", "B", 10)
    result = experiment_results("message:m", control="B")
    assert [(arm.name, arm.is_control) for arm in result.arms] == [("B", True), ("A", False)]
    with pytest.raises(ResultsError, match="has no arm 'C'; its arms are A, B"):
        experiment_results("message:m", control="C")
    with pytest.raises(ResultsError, match="unknown metric 'likes'"):
        experiment_results("message:m", metric="likes")


def test_a_sample_ratio_mismatch_warns_and_declares_nothing(messages):
    deliveries("m", "A", 300, clicked=30)
    deliveries("m", "B", 150, clicked=60)
    result = experiment_results("message:m", metric="clicks", min_sample=100)
    assert result.sample_ratio.mismatch
    assert result.sample_ratio.expected == {"A": 0.5, "B": 0.5}
    assert result.decision.status == "invalid"
    assert result.warnings[0].startswith("sample-ratio mismatch")


def test_a_winner_past_the_minimum_sample(messages):
    deliveries("m", "A", 400, clicked=40)
    deliveries("m", "B", 400, clicked=90)
    result = experiment_results("message:m", metric="clicks", min_sample=300)
    assert (result.decision.status, result.decision.winner) == ("winner", "B")
    assert experiment_results("message:m", metric="clicks").decision.status == "not_enough_data"


def test_complaints_over_the_guardrail_flag_the_arm(messages):
    deliveries("m", "A", 400, clicked=40)
    deliveries("m", "B", 400, clicked=90, complained=12)
    result = experiment_results("message:m", metric="clicks", min_sample=300)
    assert result.arms[1].flags == ["complaints"]
    assert result.decision.status == "keep_running"
    assert "B: complaints above the guardrail" in result.warnings


def test_a_split_counts_enrollments_by_branch_and_emails_after_the_split(messages):
    journey = live(welcome())
    enroll(journey, "discount", converted=True, emails=["hello", "offer"], opened=True)
    enroll(journey, "discount", emails=["hello", "offer"])
    enroll(journey, "story", converted=True, emails=["hello", "story"], clicked=True)
    enroll(journey, "holdout")
    enroll(journey, None, emails=["hello"])
    (offer,) = enroll(journey, "story", emails=["story"])
    convert(offer, Decimal("20.00"), "EUR")

    result = experiment_results("journey:welcome:nudge")

    assert (result.kind, result.unit, result.control) == ("split", "enrollment", "discount")
    discount, story = result.arms
    assert (discount.units, discount.sent, story.units, story.sent) == (2, 2, 2, 2)
    assert discount.metrics["conversions"].count == story.metrics["conversions"].count == 1
    assert (discount.metrics["opens"].count, story.metrics["clicks"].count) == (1, 1)
    assert (story.conversions, story.revenue) == (1, {"EUR": Decimal("20.00")})
    assert result.sample_ratio.expected == {"discount": 0.5, "story": 0.5}


def _shared_story_step():
    """The welcome journey where "story" is reached by both branches (discount
    through "offer") and, for those who bought, around the split: only the
    branch taken can say whose its emails are."""
    document = welcome()
    document["steps"]["bought"]["then"] = "story"
    document["steps"]["offer"]["next"] = "story"
    journey = live(document)
    experiment = experiment_get("journey:welcome:nudge")
    assert experiment.routes == {(1, "offer"): "discount", (1, "story"): None}
    return journey


@pytest.mark.parametrize("recorded", [True, False], ids=["recorded", "queued-before-0006"])
def test_emails_of_a_step_several_branches_share_go_to_each_enrollments_branch(messages, recorded):
    journey = _shared_story_step()
    _, offer, shared = enroll(
        journey, "discount", emails=["hello", "offer", "story"], recorded=recorded
    )
    enroll(journey, "story", emails=["hello", "story"], clicked=True, recorded=recorded)
    (_, around) = enroll(journey, None, emails=["hello", "story"], clicked=True, recorded=recorded)
    for delivery in (offer, shared, around):
        convert(delivery, Decimal("1.00"), "EUR")

    discount, story = experiment_results("journey:welcome:nudge").arms
    assert (discount.sent, discount.conversions, discount.revenue) == (2, 2, {"EUR": Decimal(2)})
    assert (story.sent, story.metrics["clicks"].count, story.conversions) == (1, 1, 0)


def test_a_split_running_across_the_upgrade_counts_old_and_new_rows(messages):
    journey = _shared_story_step()
    (old,) = enroll(journey, "story", emails=["story"], opened=True, recorded=False)
    (new,) = enroll(journey, "story", emails=["story"], recorded=True)
    enroll(journey, "discount", emails=["story"], clicked=True, recorded=False)
    convert(old, Decimal("2.00"), "EUR")
    convert(new, Decimal("3.00"), "EUR")

    discount, story = experiment_results("journey:welcome:nudge").arms
    assert (story.sent, story.metrics["opens"].count, story.conversions) == (2, 1, 2)
    assert story.revenue == {"EUR": Decimal("5.00")}
    assert (discount.sent, discount.metrics["clicks"].count, discount.conversions) == (1, 1, 0)


def test_an_email_queued_before_the_split_is_nobodys(messages):
    # A customer who came around to the shared step before taking a branch:
    # the email was not randomized, so no arm gets it, though the enrollment
    # has a branch now.
    journey = _shared_story_step()
    (early,) = enroll(journey, "story", emails=["story"])
    Delivery.objects.filter(pk=early.pk).update(branches={})
    convert(Delivery.objects.get(pk=early.pk), Decimal("1.00"), "EUR")

    _, story = experiment_results("journey:welcome:nudge").arms
    assert (story.units, story.sent, story.conversions) == (1, 0, 0)


def test_through_the_engine_conversions_reach_their_branch(messages):
    live(welcome(goal={"event": "purchase"}))
    customers = [consented() for _ in range(12)]
    for customer in customers:
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="test", at=T0)
    for at in (T0, T0 + timedelta(days=2)):
        run(at)
        with clock.simulated(at):
            dispatch_batch(now=at)
    bought = T0 + timedelta(days=3)
    events_record(
        events=[
            EventInput(
                name="purchase",
                occurred_at=bought,
                email=c.email,
                value=Decimal("9.99"),
                currency="EUR",
            )
            for c in customers
        ],
        received_at=bought,
    )
    run(bought)

    result = experiment_results("journey:welcome:nudge")

    branches = {e.customer_id: e.branches["welcome-nudge"] for e in Enrollment.objects.all()}
    for arm in result.arms:
        size = list(branches.values()).count(arm.name)
        # Every split email went out at day 2; each purchase is credited to it.
        assert (arm.units, arm.sent, arm.conversions) == (size, size, size)
        assert arm.revenue == {"EUR": Decimal("9.99") * size}
    # Each email carries the branches taken when it was queued: none before
    # the split, the enrollment's after it; each conversion its email's.
    recorded = {(row.customer_id, row.step_key): row.branches for row in Delivery.objects.all()}
    assert recorded == {
        **{(customer, "hello"): {} for customer in branches},
        **{
            (customer, "offer" if arm == "discount" else "story"): {"welcome-nudge": arm}
            for customer, arm in branches.items()
        },
    }
    assert all(
        c.branches == recorded[c.delivery.customer_id, c.step_key]
        for c in Conversion.objects.select_related("delivery")
    )


def test_a_paused_variant_is_left_out_of_the_sample_ratio_check(messages):
    deliveries("m", "A", 300)
    deliveries("m", "B", 150)
    Variant.objects.filter(message__key="m", key="B").update(weight=0)
    result = experiment_results("message:m")
    assert result.sample_ratio is None
    assert [arm.units for arm in result.arms] == [300, 150]
