"""The statistics against statsmodels and scipy on fixed counts."""

import pytest
from scipy import integrate
from scipy import stats as scipy_stats
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    proportions_ztest,
)

from campaigns.analysis import stats

#: (successes, trials): small, near 0, near 1, typical open and conversion counts.
PROPORTIONS = [(0, 10), (1, 12), (7, 7), (12, 345), (1_503, 5_000), (96, 48_000)]
#: (x_control, n_control, x_b, n_b)
PAIRS = [
    (120, 5_000, 150, 5_000),
    (10, 100, 15, 100),
    (1_500, 5_000, 1_440, 5_100),
    (3, 2_000, 9, 1_900),
    (40, 1_000, 25, 1_000),
]


@pytest.mark.parametrize(("x", "n"), PROPORTIONS)
def test_it_matches_statsmodels_wilson_interval(x, n):
    assert stats.wilson_interval(x, n) == pytest.approx(
        proportion_confint(x, n, alpha=0.05, method="wilson"), abs=1e-12
    )


def test_it_has_no_interval_without_trials():
    assert stats.wilson_interval(0, 0) is None


@pytest.mark.parametrize(("x_a", "n_a", "x_b", "n_b"), PAIRS)
def test_it_matches_statsmodels_two_proportion_z_test(x_a, n_a, x_b, n_b):
    _, expected = proportions_ztest([x_b, x_a], [n_b, n_a])
    assert stats.two_proportion_p_value(x_a, n_a, x_b, n_b) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("x_a", "n_a", "x_b", "n_b"), PAIRS)
def test_the_lift_interval_matches_statsmodels_log_ratio_interval(x_a, n_a, x_b, n_b):
    lift, low, high = stats.relative_lift(x_a, n_a, x_b, n_b)
    ratio_low, ratio_high = confint_proportions_2indep(
        x_b, n_b, x_a, n_a, method="log", compare="ratio"
    )
    assert lift == pytest.approx((x_b / n_b) / (x_a / n_a) - 1)
    assert (low, high) == pytest.approx((ratio_low - 1, ratio_high - 1), rel=1e-9)


def test_there_is_no_lift_from_or_to_nothing():
    assert stats.relative_lift(0, 100, 5, 100) is None
    assert stats.relative_lift(5, 100, 0, 100) is None


@pytest.mark.parametrize(
    ("observed", "weights"),
    [([5_500, 4_500], [50, 50]), ([330, 340, 330], [1, 1, 1]), ([900, 120], [90, 10])],
)
def test_it_matches_scipy_chi_square(observed, weights):
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    reference = scipy_stats.chisquare(observed, expected)
    check = stats.sample_ratio(observed, weights)
    assert (check.statistic, check.p_value) == pytest.approx(
        (reference.statistic, reference.pvalue), rel=1e-9
    )


def test_a_55_45_split_of_10000_configured_50_50_is_a_sample_ratio_mismatch():
    assert stats.sample_ratio([5_500, 4_500], [50, 50]).mismatch


def test_an_ordinary_wobble_is_not_a_mismatch():
    assert not stats.sample_ratio([5_040, 4_960], [50, 50]).mismatch
    assert not stats.sample_ratio([4_530, 5_470], [45, 55]).mismatch


def _integrated(x_a, n_a, x_b, n_b):
    """P(p_b > p_a) = ∫ f_b(x) F_a(x) dx, by adaptive quadrature over where the mass is."""
    a = scipy_stats.beta(1 + x_a, 1 + n_a - x_a)
    b = scipy_stats.beta(1 + x_b, 1 + n_b - x_b)
    low, high = min(a.ppf(1e-12), b.ppf(1e-12)), max(a.isf(1e-12), b.isf(1e-12))
    value, _ = integrate.quad(lambda x: b.pdf(x) * a.cdf(x), low, high, limit=200, epsabs=1e-12)
    return value


@pytest.mark.parametrize(
    ("x_a", "n_a", "x_b", "n_b"),
    [*PAIRS, (0, 50, 1, 50), (3, 5_000, 3, 5_000), (150_000, 500_000, 150_900, 500_000)],
)
def test_the_probability_to_beat_control_matches_numerical_integration(x_a, n_a, x_b, n_b):
    assert stats.probability_to_beat(x_a, n_a, x_b, n_b) == pytest.approx(
        _integrated(x_a, n_a, x_b, n_b), abs=1e-6
    )


def test_the_probability_to_beat_is_symmetric():
    forward = stats.probability_to_beat(120, 5_000, 150, 5_000)
    assert forward + stats.probability_to_beat(150, 5_000, 120, 5_000) == pytest.approx(1)
