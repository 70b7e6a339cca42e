"""Engagement, open and click rates, CLV and churn, on fixed histories with exact numbers."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.models import Delivery
from customers.lifecycle.clv import (
    FALLBACK_LIFESPAN_YEARS,
    churn_measure,
    lifespan_years,
    segment_clv,
)
from customers.models import ChurnEstimate, Customer
from tests.customers.lifecycle.helpers import T0
from tests.factories import CustomerFactory, queued

DAY = timedelta(days=1)


# --- Engagement ---------------------------------------------------------------


def test_it_scores_an_open_1_a_click_3_and_a_purchase_10_on_the_day(life):
    ann = CustomerFactory()
    life.event(ann, "email_opened", T0, machine=False)
    life.event(ann, "email_clicked", T0, machine=False)
    assert life.buy(ann, T0).engagement_score == 14.0


def test_it_halves_the_score_every_half_life(life, settings):
    settings.LADDER_ENGAGEMENT_HALF_LIFE_DAYS = 30
    ann = life.event(CustomerFactory(), "email_opened", T0, machine=False)
    assert ann.engagement_score == 1.0
    for days, score in ((30, 0.5), (60, 0.25), (90, 0.125)):
        life.sweep(T0 + days * DAY)
        ann.refresh_from_db()
        assert ann.engagement_score == score


def test_it_forgets_events_older_than_ten_half_lives(life, settings):
    settings.LADDER_ENGAGEMENT_HALF_LIFE_DAYS = 10
    ann = life.buy(CustomerFactory(), T0)
    life.sweep(T0 + 100 * DAY)
    ann.refresh_from_db()
    assert ann.engagement_score == 0.009766  # 10 / 2**10, to six decimals
    life.sweep(T0 + 100 * DAY + timedelta(seconds=1))
    ann.refresh_from_db()
    assert ann.engagement_score == 0


def test_it_leaves_machine_opens_and_clicks_out_of_score_and_last_times(life):
    ann = CustomerFactory()
    life.event(ann, "email_opened", T0, machine=True)
    life.event(ann, "email_clicked", T0, machine=True)
    assert (ann.engagement_score, ann.last_open_at, ann.last_click_at) == (0, None, None)
    life.event(ann, "email_opened", T0 + DAY, machine=False)
    ann = life.event(ann, "email_clicked", T0 + 2 * DAY)  # no flag: a person
    assert (ann.last_open_at, ann.last_click_at) == (T0 + DAY, T0 + 2 * DAY)


# --- Rates --------------------------------------------------------------------


def _sent(customer, **fields) -> None:
    """One email sent to ``customer``, with what came back."""
    (delivery,) = queued([customer], step=f"s{Delivery.objects.count()}")
    Delivery.objects.filter(pk=delivery.pk).update(sent_at=T0, **fields)


def test_it_rates_human_opens_and_clicks_per_email_sent_and_not_bounced(life, messages):
    ann = CustomerFactory()
    _sent(ann, opened_at=T0, clicked_at=T0)
    _sent(ann, opened_at=T0)
    _sent(ann, machine_opened_at=T0)  # a privacy proxy, not a person
    _sent(ann)
    _sent(ann, bounced_at=T0)  # never arrived: not counted at all
    _sent(ann, bounced_at=T0)
    ann = life.event(ann, "email_opened", T0, machine=False)
    assert (ann.open_rate, ann.click_rate) == (0.5, 0.25)


def test_it_leaves_rates_empty_until_an_email_is_sent(life):
    ann = life.buy(CustomerFactory(), T0)
    assert (ann.open_rate, ann.click_rate) == (None, None)


# --- CLV ----------------------------------------------------------------------


def test_it_computes_clv_from_order_value_frequency_and_lifespan(life, settings):
    settings.LADDER_CLV_LIFESPAN_YEARS = 2.0
    now = T0 + 400 * DAY
    ann = CustomerFactory()
    life.buy(ann, T0, value="120.00")
    life.buy(ann, T0 + 200 * DAY, value="80.00")
    life.buy(ann, T0 + 390 * DAY, value="100.00")
    life.event(ann, "refund", T0 + 395 * DAY, value="50.00")
    life.sweep(now)
    ann.refresh_from_db()

    # Average order value: revenue (300 bought, 50 refunded) over 3 orders.
    assert (ann.orders_count, ann.revenue, ann.first_purchase_at) == (3, Decimal("250.00"), T0)
    assert (ann.revenue / ann.orders_count).quantize(Decimal("0.01")) == Decimal("83.33")
    # Frequency: 3 orders over the 400 days since the first: 2.7375 a year.
    assert ann.orders_count * 365 / ((now - ann.first_purchase_at) / DAY) == 2.7375
    # CLV = 250 / 3 * 2.7375 * 2 years.
    assert ann.clv == Decimal("456.25")


def test_it_measures_frequency_over_at_least_a_year(life, settings):
    settings.LADDER_CLV_LIFESPAN_YEARS = 2.0
    ann = life.buy(CustomerFactory(), T0, value="100.00")
    ann = life.buy(ann, T0 + 30 * DAY, value="100.00")
    # Two orders in a month read as two a year, not twenty-four: 100 * 2 * 2.
    assert ann.clv == Decimal("400.00")


def test_it_never_values_a_customer_below_zero(life, settings):
    settings.LADDER_CLV_LIFESPAN_YEARS = 2.0
    ann = life.buy(CustomerFactory(), T0, value="10.00")
    ann = life.event(ann, "refund", T0 + DAY, value="30.00")
    assert (ann.revenue, ann.clv) == (Decimal("-20.00"), 0)


def _buyers(n: int, *, first, last) -> None:
    Customer.objects.bulk_create(
        Customer(email=f"b{first.date()}{last.date()}{i}@example.com", orders_count=2,
                 first_purchase_at=first, last_purchase_at=last)
        for i in range(n)
    )  # fmt: skip


def test_it_estimates_the_lifespan_as_one_over_annual_churn(db):
    now = T0 + 1000 * DAY
    _buyers(80, first=now - 500 * DAY, last=now - 100 * DAY)  # still buying
    _buyers(20, first=now - 500 * DAY, last=now - 400 * DAY)  # stopped this year
    _buyers(50, first=now - 900 * DAY, last=now - 800 * DAY)  # stopped before: not in the cohort
    _buyers(50, first=now - 100 * DAY, last=now - DAY)  # too new to tell
    estimate = churn_measure(now=now)
    assert (estimate.cohort, estimate.churned, estimate.lifespan_years) == (100, 20, 5.0)
    assert lifespan_years() == 5.0


def test_it_falls_back_to_three_years_while_churn_cannot_be_measured(db):
    _buyers(99, first=T0 - 500 * DAY, last=T0 - 400 * DAY)
    assert churn_measure(now=T0).lifespan_years == FALLBACK_LIFESPAN_YEARS == 3.0


@pytest.mark.parametrize(("churned", "years"), [(0, 10.0), (5, 10.0), (50, 2.0), (100, 1.0)])
def test_it_caps_the_lifespan_at_ten_years(db, churned, years):
    _buyers(100 - churned, first=T0 - 500 * DAY, last=T0 - 10 * DAY)
    _buyers(churned, first=T0 - 500 * DAY, last=T0 - 400 * DAY)
    assert churn_measure(now=T0).lifespan_years == years


def test_the_sweep_measures_churn_unless_the_lifespan_is_set(life, settings):
    life.sweep(T0)
    assert ChurnEstimate.objects.count() == 1
    settings.LADDER_CLV_LIFESPAN_YEARS = 4.0
    life.sweep(T0 + DAY)
    assert ChurnEstimate.objects.count() == 1
    assert lifespan_years() == 4.0


def test_it_values_a_segment_in_one_query(db, django_assert_num_queries):
    CustomerFactory(clv=Decimal("100.00"), stage="repeat")
    CustomerFactory(clv=Decimal("50.50"), stage="repeat")
    CustomerFactory(clv=Decimal("999.00"), stage="loyal")
    with django_assert_num_queries(1):
        value = segment_clv(Customer.objects.filter(stage="repeat"))
    assert (value.customers, value.total, value.average) == (2, Decimal("150.50"), Decimal("75.25"))


def test_the_export_holds_the_lifecycle_metrics_too(life):
    from customers.selectors import customer_export

    ann = life.buy(life.event(CustomerFactory(), "email_opened", T0, machine=False), T0)
    exported = customer_export(ann)["customer"]
    assert (exported["last_open_at"], exported["first_purchase_at"]) == (T0, T0)
    assert {"open_rate", "click_rate", "lapsed_at", "last_click_at"} <= set(exported)
