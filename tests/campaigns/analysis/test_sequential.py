"""Declaring winners: the always-valid test looked at daily, and the decision rules."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from campaigns.analysis.sequential import (
    ALPHA,
    MIN_SAMPLE,
    Contender,
    always_valid_p_value,
    decide,
)

EXPERIMENTS, DAYS = 1_000, 30


def _daily_totals(rng, rate, per_day):
    """Cumulative successes after each day, for every simulated experiment."""
    return np.cumsum(rng.binomial(per_day, rate, size=(EXPERIMENTS, DAYS)), axis=1)


def _declared(x_a, x_b, n):
    """Experiments in which a daily look would have declared a winner."""
    p_values = always_valid_p_value(x_a, n, x_b, n)
    return ((p_values < ALPHA) & (n >= MIN_SAMPLE)).any(axis=1)


@pytest.mark.parametrize(("rate", "per_day"), [(0.05, 150), (0.02, 500), (0.3, 100)])
def test_an_aa_test_looked_at_daily_for_30_days_declares_at_most_5_percent(rate, per_day):
    rng = np.random.default_rng(7)
    n = np.cumsum(np.full((EXPERIMENTS, DAYS), per_day), axis=1)
    x_a, x_b = _daily_totals(rng, rate, per_day), _daily_totals(rng, rate, per_day)
    assert _declared(x_a, x_b, n).mean() <= ALPHA


def test_a_fixed_horizon_test_looked_at_daily_would_not_hold_its_level():
    """Why the sequential test: the same looks with the z-test find many false winners."""
    rng = np.random.default_rng(7)
    n = np.cumsum(np.full((EXPERIMENTS, DAYS), 150), axis=1)
    x_a, x_b = _daily_totals(rng, 0.05, 150), _daily_totals(rng, 0.05, 150)
    pooled = (x_a + x_b) / (2 * n)
    z = (x_b - x_a) / n / np.sqrt(pooled * (1 - pooled) * 2 / n)
    assert ((2 * scipy_stats.norm.sf(abs(z)) < ALPHA) & (n >= MIN_SAMPLE)).any(axis=1).mean() > 0.1


def test_a_real_lift_is_found():
    rng = np.random.default_rng(7)
    n = np.cumsum(np.full((EXPERIMENTS, DAYS), 100), axis=1)
    x_a, x_b = _daily_totals(rng, 0.3, 100), _daily_totals(rng, 0.36, 100)
    assert _declared(x_a, x_b, n).mean() > 0.9


def test_it_takes_scalars_too():
    assert always_valid_p_value(500, 10_000, 500, 10_000) == 1.0
    assert always_valid_p_value(500, 10_000, 700, 10_000) < 0.001
    assert always_valid_p_value(0, 10_000, 0, 10_000) == 1.0


def arm(name, successes, units=2_000, p_value=None, flagged=False):
    return Contender(name, successes, units, p_value, flagged)


def test_no_winner_before_every_arm_has_the_minimum_sample():
    decision = decide([arm("A", 10), arm("B", 90, units=999, p_value=1e-9)])
    assert (decision.status, decision.winner) == ("not_enough_data", None)
    assert "B (999)" in decision.reason


def test_a_significantly_better_challenger_wins():
    decision = decide([arm("A", 100), arm("B", 160, p_value=0.001), arm("C", 150, p_value=0.01)])
    assert (decision.status, decision.winner) == ("winner", "B")


def test_significance_is_shared_between_challengers():
    # 0.03 passes alone but not as one of two challengers (alpha / 2 = 0.025).
    assert decide([arm("A", 100), arm("B", 140, p_value=0.03)]).winner == "B"
    two = decide([arm("A", 100), arm("B", 140, p_value=0.03), arm("C", 100, p_value=1.0)])
    assert two.status == "keep_running"


def test_control_wins_when_every_challenger_is_worse():
    assert decide([arm("A", 200), arm("B", 100, p_value=0.001)]).winner == "A"


def test_an_arm_over_a_guardrail_cannot_win():
    decision = decide([arm("A", 100), arm("B", 160, p_value=0.001, flagged=True)])
    assert decision.status == "keep_running"


def test_a_sample_ratio_mismatch_stops_any_decision():
    decision = decide([arm("A", 100), arm("B", 160, p_value=0.001)], mismatch=True)
    assert (decision.status, decision.winner) == ("invalid", None)
