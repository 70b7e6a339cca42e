"""The stage history read for reports, on a fixed sequence of moves
(``tests/customers/lifecycle/history.py`` tells it)."""

from datetime import date, timedelta

import pytest

from customers.lifecycle.history import (
    buckets_between,
    lapsed_counts,
    stage_counts,
    stage_transitions,
    time_in_stage,
)
from customers.models import Customer, Stage
from customers.services.stage import stage_set
from tests.customers.lifecycle.history import END, START, created, march_history, noon


@pytest.fixture
def history(db):
    return march_history()


def test_it_counts_customers_on_each_stage_at_the_end_of_each_week(history):
    counts = stage_counts(start=START, end=END, bucket="week")
    assert [day for day, _ in counts] == [date(2026, 3, d) for d in (2, 9, 16, 23)]
    assert [{s: n for s, n in c.items() if n} for _, c in counts] == [
        {"prospect": 3},
        {"prospect": 1, "customer": 2},
        {"suspect": 1, "prospect": 1, "customer": 1, "repeat": 1},
        {"suspect": 1, "prospect": 1, "customer": 1, "repeat": 1},
    ]


def test_daily_counts_carry_a_quiet_day_over(history):
    counts = dict(stage_counts(start=START, end=START + timedelta(days=5), bucket="day"))
    assert list(counts) == [date(2026, 3, d) for d in range(2, 7)]
    none = dict.fromkeys(Stage.values, 0)
    assert counts[date(2026, 3, 2)] == {**none, "suspect": 1, "prospect": 1}
    assert counts[date(2026, 3, 3)]["prospect"] == 2
    assert counts[date(2026, 3, 4)]["suspect"] == 1
    assert counts[date(2026, 3, 6)] == counts[date(2026, 3, 5)]
    assert counts[date(2026, 3, 5)]["prospect"] == 3


def test_monthly_buckets_start_on_the_first(history):
    counts = stage_counts(start=noon(2, 10), end=END, bucket="month")
    assert [day for day, _ in counts] == [date(2026, 2, 1), date(2026, 3, 1)]
    assert {s: n for s, n in counts[0][1].items() if n} == {"suspect": 1, "prospect": 1}


def test_it_counts_moves_between_stages_in_the_period(history):
    assert stage_transitions(start=START, end=END) == {
        ("", "suspect"): 2,
        ("suspect", "prospect"): 2,
        ("prospect", "customer"): 2,
        ("customer", "repeat"): 1,
    }
    assert stage_transitions(start=noon(3, 10), end=noon(3, 11)) == {("prospect", "customer"): 1}


def test_it_measures_stays_that_ended_and_those_still_going(history):
    stays = time_in_stage(start=START, end=END, now=noon(6, 1))
    suspect, prospect = stays["suspect"], stays["prospect"]
    # ann 11 days, bob 1 day; dan still there after 12.5 days.
    assert (suspect.ended, suspect.median_days) == (2, pytest.approx(6))
    assert suspect.distribution == (0, 1, 1, 0, 0, 0)
    assert (suspect.ongoing, suspect.ongoing_median_days) == (1, pytest.approx(12.5))
    # ann 7 days, cat 14 (since she was made); bob still there.
    assert (prospect.ended, prospect.median_days) == (2, pytest.approx(10.5))
    assert prospect.distribution == (0, 0, 2, 0, 0, 0)
    assert (prospect.ongoing, prospect.ongoing_median_days) == (1, pytest.approx(24.5))
    assert (stays["customer"].ended, stays["customer"].median_days) == (1, pytest.approx(12))
    assert (stays["repeat"].ended, stays["repeat"].ongoing) == (0, 1)
    assert stays["repeat"].median_days is None
    assert stays["repeat"].ongoing_median_days == pytest.approx(7.5)
    assert stays["loyal"] == stays["advocate"]


def test_stays_still_going_are_measured_up_to_now_when_the_period_runs_on(history):
    stays = time_in_stage(start=START, end=END, now=noon(3, 24))
    assert stays["repeat"].ongoing_median_days == pytest.approx(2)
    # cat's stay as a customer, from 11 March, is still going on the 24th.
    assert (stays["customer"].ongoing, stays["customer"].ongoing_median_days) == (1, 13)


def test_the_median_of_an_odd_number_of_stays_is_the_middle_one(db):
    for n, days in enumerate((3, 1, 10)):
        customer = created(f"c{n}@example.com", noon(3, 1))
        stage_set(customer=customer, stage=Stage.PROSPECT, cause="t", at=noon(3, 1 + days))
    assert time_in_stage(start=START, end=END, now=END)["suspect"].median_days == 3


def test_it_counts_lapsed_customers_by_when_they_lapsed(history):
    lapsed = {"ann": noon(2, 1), "bob": noon(3, 10), "cat": noon(3, 24)}
    for name, at in lapsed.items():
        Customer.objects.filter(pk=history[name].pk).update(lapsed_at=at)
    result = lapsed_counts(start=START, end=END, bucket="week")
    assert result.buckets == [
        (date(2026, 3, 2), 0, 1),
        (date(2026, 3, 9), 1, 2),
        (date(2026, 3, 16), 0, 2),
        (date(2026, 3, 23), 1, 3),
    ]
    assert result.now == {
        "suspect": (1, 0),
        "prospect": (1, 1),
        "customer": (1, 1),
        "repeat": (1, 1),
        "loyal": (0, 0),
        "advocate": (0, 0),
    }


def test_buckets_cover_the_period_as_the_database_cuts_it():
    assert buckets_between(noon(3, 4), noon(3, 17), "week") == [
        date(2026, 3, 2),
        date(2026, 3, 9),
        date(2026, 3, 16),
    ]
    assert buckets_between(noon(1, 31), noon(3, 1), "month") == [
        date(2026, 1, 1),
        date(2026, 2, 1),
        date(2026, 3, 1),
    ]
    assert buckets_between(START, START, "day") == []
