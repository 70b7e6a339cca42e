"""The statistics of an A/B comparison: plain functions of counts, no database.

Every function takes successes and trials (or observed counts and weights) and
returns floats, so the report, the admin pages and the tests share one
implementation, checked against statsmodels and scipy in
``tests/campaigns/analysis/test_stats.py``. Formulas are in docs/ab-testing.md.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special, stats

#: Confidence of every interval in reports.
CONFIDENCE = 0.95
#: A sample-ratio mismatch is reported below this p-value. Strict on purpose:
#: the check runs on every report of every experiment, and a real mismatch
#: (a broken assignment, one variant failing to render) is never borderline.
SAMPLE_RATIO_ALPHA = 0.001


def _z(confidence: float) -> float:
    return float(stats.norm.ppf(0.5 + confidence / 2))


def wilson_interval(
    successes: int, trials: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float] | None:
    """Wilson score interval for a proportion: unlike p ± z·se it stays inside
    [0, 1] and keeps its coverage for small counts and rates near 0 (opens,
    complaints). None without trials."""
    if trials <= 0:
        return None
    z = _z(confidence)
    p = successes / trials
    denominator = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denominator
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denominator
    # Exact ends where rounding would leave 1e-19 for "none" or "all".
    low = 0.0 if successes == 0 else centre - half
    high = 1.0 if successes == trials else centre + half
    return low, high


def two_proportion_p_value(x_a: int, n_a: int, x_b: int, n_b: int) -> float | None:
    """Two-sided p-value of the pooled two-proportion z-test of b against a.

    Valid for one look at a planned sample size only; reports show it for
    reference, and winners are decided by ``always_valid_p_value``.
    """
    if n_a <= 0 or n_b <= 0:
        return None
    pooled = (x_a + x_b) / (n_a + n_b)
    variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
    if variance == 0:
        return 1.0
    z = (x_b / n_b - x_a / n_a) / math.sqrt(variance)
    return float(2 * stats.norm.sf(abs(z)))


def relative_lift(
    x_a: int, n_a: int, x_b: int, n_b: int, *, confidence: float = CONFIDENCE
) -> tuple[float, float, float] | None:
    """b's rate relative to a's (``p_b / p_a - 1``) with a confidence interval.

    The interval is built on the log of the ratio (delta method, Katz et al.),
    where the sampling distribution is close to normal, and mapped back, so it
    is asymmetric like the ratio itself. None when either rate is 0: a ratio
    to or of nothing has no useful interval.
    """
    if min(n_a, n_b, x_a, x_b) <= 0:
        return None
    p_a, p_b = x_a / n_a, x_b / n_b
    log_ratio = math.log(p_b / p_a)
    se = math.sqrt((1 - p_a) / x_a + (1 - p_b) / x_b)
    z = _z(confidence)
    return p_b / p_a - 1, math.exp(log_ratio - z * se) - 1, math.exp(log_ratio + z * se) - 1


@dataclass(frozen=True)
class SampleRatio:
    """Pearson's chi-square test of observed arm sizes against configured weights."""

    statistic: float
    p_value: float

    @property
    def mismatch(self) -> bool:
        return self.p_value < SAMPLE_RATIO_ALPHA


def sample_ratio(observed: Sequence[int], weights: Sequence[float]) -> SampleRatio | None:
    """How surprising the arm sizes are if customers really were split by ``weights``.
    None with fewer than two arms or no units."""
    total = sum(observed)
    if len(observed) < 2 or total == 0:
        return None
    weight_sum = sum(weights)
    expected = [total * w / weight_sum for w in weights]
    statistic = sum((o - e) ** 2 / e for o, e in zip(observed, expected, strict=True))
    return SampleRatio(statistic, float(stats.chi2.sf(statistic, len(observed) - 1)))


def _beats(a1: float, b1: float, a2: float, b2: float) -> float:
    """P(X2 > X1) for X1 ~ Beta(a1, b1), X2 ~ Beta(a2, b2), integer a2: the exact
    finite sum (Evan Miller, "Formulas for Bayesian A/B testing"), a2 terms."""
    i = np.arange(int(a2))
    terms = (
        special.betaln(a1 + i, b1 + b2)
        - np.log(b2 + i)
        - special.betaln(1 + i, b2)
        - special.betaln(a1, b1)
    )
    return float(np.exp(terms).sum())


def probability_to_beat(x_a: int, n_a: int, x_b: int, n_b: int) -> float | None:
    """Posterior probability that b's true rate exceeds a's, with Beta(1, 1)
    (uniform) priors: exact, no sampling, so the same counts always give the
    same figure.

    The sum has one term per success of b; by the symmetry p -> 1 - p it is
    taken over b's successes or failures, whichever is fewer, so it stays
    small (about 40 ms at 250,000 terms) for rates near 0 or 1 alike.
    """
    if n_a <= 0 or n_b <= 0:
        return None
    a1, b1, a2, b2 = 1 + x_a, 1 + n_a - x_a, 1 + x_b, 1 + n_b - x_b
    probability = _beats(a1, b1, a2, b2) if a2 <= b2 else 1 - _beats(b1, a1, b2, a2)
    return min(1.0, max(0.0, probability))
