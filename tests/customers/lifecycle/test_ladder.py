"""The default ladder on event sequences: every move, up and down, with its cause."""

from datetime import timedelta

import pytest

from customers.lifecycle.defaults import DEFAULT_LADDER
from customers.lifecycle.ladder import CONSENT_CHANGE, Ladder, Rung
from customers.models import LadderRule, Stage, StageChange
from customers.rules import parse_rule
from tests.customers.lifecycle.helpers import T0
from tests.factories import CustomerFactory

DAY = timedelta(days=1)


def _history(customer) -> list[tuple[str, str, str]]:
    return list(
        StageChange.objects.filter(customer=customer)
        .order_by("changed_at", "id")
        .values_list("from_stage", "to_stage", "cause")
    )


def test_it_makes_a_suspect_who_consents_a_prospect(life):
    ann = life.grant(CustomerFactory(), T0)
    assert ann.stage == Stage.PROSPECT
    assert _history(ann) == [
        ("suspect", "prospect", "ladder: matches the Prospect rule (consent change)")
    ]


def test_it_makes_a_suspect_who_opens_an_email_or_visits_a_prospect(life):
    opener, visitor = CustomerFactory(), CustomerFactory()
    assert life.event(opener, "email_opened", T0, machine=False).stage == Stage.PROSPECT
    assert life.event(visitor, "page_view", T0).stage == Stage.PROSPECT


def test_it_ignores_opens_and_clicks_by_machines(life):
    ann = CustomerFactory()
    life.event(ann, "email_opened", T0, machine=True)
    life.event(ann, "email_clicked", T0, machine=True)
    assert (ann.stage, ann.last_open_at, ann.last_click_at) == (Stage.SUSPECT, None, None)


def test_it_drops_a_prospect_who_withdraws_consent_back_to_suspect(life):
    ann = life.grant(CustomerFactory(), T0)
    ann = life.withdraw(ann, T0 + DAY)
    assert ann.stage == Stage.SUSPECT
    assert _history(ann)[-1] == (
        "prospect",
        "suspect",
        "ladder: no longer matches the Prospect rule (consent change)",
    )


def test_it_keeps_a_buyer_who_withdraws_consent_a_customer(life):
    ann = life.buy(life.grant(CustomerFactory(), T0), T0 + DAY)
    assert life.withdraw(ann, T0 + 2 * DAY).stage == Stage.CUSTOMER


def test_it_moves_buyers_up_with_their_first_and_second_purchase(life):
    ann = life.buy(life.grant(CustomerFactory(), T0), T0 + DAY)
    assert ann.stage == Stage.CUSTOMER
    ann = life.buy(ann, T0 + 2 * DAY)
    assert ann.stage == Stage.REPEAT
    assert _history(ann)[-2:] == [
        ("prospect", "customer", "ladder: matches the Customer rule (purchase)"),
        ("customer", "repeat", "ladder: matches the Repeat rule (purchase)"),
    ]


def test_it_makes_four_purchases_within_a_year_loyal(life):
    ann = CustomerFactory()
    for n in range(3):
        ann = life.buy(ann, T0 + n * 100 * DAY)
    assert ann.stage == Stage.REPEAT
    assert life.buy(ann, T0 + 300 * DAY).stage == Stage.LOYAL


def test_it_does_not_count_purchases_older_than_a_year_towards_loyal(life):
    ann = CustomerFactory()
    for n in range(4):
        ann = life.buy(ann, T0 + n * 130 * DAY)
    assert ann.stage == Stage.REPEAT


def test_it_makes_a_high_clv_loyal(life, settings):
    settings.LADDER_CLV_LIFESPAN_YEARS = 3.0
    # 400 in a first year, expected for three years: a CLV of 1,200.
    ann = life.buy(CustomerFactory(), T0, value="400.00")
    assert (ann.clv, ann.stage) == (1200, Stage.LOYAL)


def test_it_demotes_loyal_to_repeat_when_purchases_age_out(life):
    ann = CustomerFactory()
    for n in range(4):
        ann = life.buy(ann, T0 + n * DAY)
    assert ann.stage == Stage.LOYAL
    life.sweep(T0 + 366 * DAY)
    ann.refresh_from_db()
    assert ann.stage == Stage.REPEAT
    assert _history(ann)[-1] == (
        "loyal",
        "repeat",
        "ladder: no longer matches the Loyal rule (nightly sweep)",
    )


def test_it_makes_referrers_reviewers_and_promoters_advocates(life):
    referrer, reviewer, promoter, passive = CustomerFactory.create_batch(4)
    assert life.event(referrer, "referral", T0).stage == Stage.ADVOCATE
    assert life.event(reviewer, "review", T0, stars=5).stage == Stage.ADVOCATE
    assert life.event(promoter, "nps", T0, score=9).stage == Stage.ADVOCATE
    assert life.event(passive, "nps", T0, score=8).stage == Stage.SUSPECT
    assert _history(promoter)[-1][2] == "ladder: matches the Advocate rule (nps)"


def test_it_lets_advocacy_lapse_after_a_year(life):
    ann = life.buy(CustomerFactory(), T0)
    ann = life.event(ann, "review", T0 + DAY)
    assert ann.stage == Stage.ADVOCATE
    life.sweep(T0 + 367 * DAY)
    ann.refresh_from_db()
    assert ann.stage == Stage.CUSTOMER


def test_it_marks_a_buyer_lapsed_after_the_lapse_days_and_clears_it_on_a_purchase(life, settings):
    settings.LADDER_LAPSE_DAYS = 180
    ann = life.buy(CustomerFactory(), T0)
    life.sweep(T0 + 179 * DAY)
    ann.refresh_from_db()
    assert ann.lapsed_at is None
    life.sweep(T0 + 181 * DAY)
    ann.refresh_from_db()
    assert ann.lapsed_at == T0 + 180 * DAY
    assert life.buy(ann, T0 + 200 * DAY).lapsed_at is None


def test_it_never_marks_someone_who_never_bought_lapsed(life):
    ann = life.grant(CustomerFactory(), T0)
    life.sweep(T0 + 400 * DAY)
    ann.refresh_from_db()
    assert ann.lapsed_at is None


def test_it_moves_nobody_for_events_no_rule_or_metric_reads(life):
    ann = life.event(CustomerFactory(), "wishlist_added", T0)
    assert ann.stage == Stage.SUSPECT
    assert not StageChange.objects.filter(customer=ann).exclude(from_stage="").exists()


def test_it_follows_an_edited_rule(life):
    LadderRule.objects.filter(stage=Stage.CUSTOMER).update(
        rule={"field": "revenue", "op": "gte", "value": 50}
    )
    ann = life.buy(CustomerFactory(), T0, value="20.00")
    assert ann.stage == Stage.SUSPECT
    assert life.buy(ann, T0 + DAY, value="40.00").stage == Stage.REPEAT


def test_it_reads_a_missing_rule_as_its_default(life):
    LadderRule.objects.filter(stage=Stage.CUSTOMER).delete()
    assert life.buy(CustomerFactory(), T0).stage == Stage.CUSTOMER


def test_it_leaves_erased_customers_where_they_were(life):
    from customers.services.erasure import customer_erase

    ann = life.buy(CustomerFactory(), T0)
    customer_erase(customer=ann)
    life.sweep(T0 + 400 * DAY)
    ann.refresh_from_db()
    assert (ann.stage, ann.lapsed_at) == (Stage.CUSTOMER, None)


# --- Which activity can move whom (decided without the database) -------------


def _ladder(**rules) -> Ladder:
    documents = {stage: rule for stage, (rule, _) in DEFAULT_LADDER.items()}
    documents.update({Stage(stage): rule for stage, rule in rules.items()})
    return Ladder(tuple(Rung(s, parse_rule(documents[s])) for s in reversed(DEFAULT_LADDER)))


@pytest.mark.parametrize(
    ("stage", "activity", "can"),
    [
        (Stage.SUSPECT, {"page_view"}, True),  # the prospect rule reads page views
        (Stage.PROSPECT, {"page_view"}, False),  # more page views keep it matching
        (Stage.CUSTOMER, {"page_view"}, False),
        (Stage.REPEAT, {"review"}, True),  # the advocate rule may now match
        (Stage.ADVOCATE, {"review"}, False),
        (Stage.PROSPECT, {CONSENT_CHANGE}, True),  # a withdrawal ends the prospect rule
        (Stage.CUSTOMER, {CONSENT_CHANGE}, False),  # no rule above reads consent
        (Stage.LOYAL, {"wishlist_added"}, False),
    ],
)
def test_it_knows_which_activity_can_move_a_customer(stage, activity, can):
    assert _ladder().can_move(stage, activity) is can


@pytest.mark.parametrize(
    "rule",
    [
        {"event": {"name": "page_view", "within_days": 7, "count": {"lt": 3}}},
        {"not": {"event": {"name": "page_view"}}},
        {"event": {"name": "page_view", "sum": {"gte": 1}}},
    ],
)
def test_it_knows_more_events_can_end_a_rule_with_an_upper_bound_a_not_or_a_sum(rule):
    assert _ladder(prospect=rule).can_move(Stage.PROSPECT, {"page_view"})
