"""When to declare a winner: an always-valid test that may be looked at daily.

Reports are read every day, and a fixed-horizon p-value checked every day
finds a "winner" in an A/A test about a fifth of the time (thirty looks). The
mixture sequential probability ratio test (mSPRT; Johari, Pekelis and Walsh,
"Always valid inference", 2017; what Optimizely runs) gives a p-value that
stays valid however often, and whenever, anyone looks: under no true
difference, the chance that it *ever* drops below alpha is at most alpha.
Unlike a group-sequential alpha-spending plan, it needs no planned horizon or
number of looks, which marketers never fix in advance.

The statistic compares the likelihood of the observed difference of rates
under "no difference" with its likelihood averaged over plausible differences,
N(0, tau²). The normal approximation to the difference uses the pooled rate,
as the z-test does; tau is set relative to that rate (``MIXTURE_RELATIVE_SD``),
so one setting suits a 2 % conversion rate and a 30 % open rate alike.
Functions accept numpy arrays, so the A/A simulation in the tests runs
thousands of experiments at once.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

#: Spread of the mixture over true differences, as a share of the pooled rate:
#: the test is most powerful against relative lifts of about this size. 0.2
#: detected lifts of 10-20 % soonest in simulations from 1 % to 30 % rates
#: (0.05 and 0.1 waited much longer; 0.5 was no better).
MIXTURE_RELATIVE_SD = 0.2
#: Significance level of a winner, shared by every comparison with control.
ALPHA = 0.05
#: Units (the primary metric's denominator) every arm needs before any winner:
#: the normal approximation the test rests on is poor below this.
MIN_SAMPLE = 1000


def always_valid_p_value(x_a, n_a, x_b, n_b, *, tau: float = MIXTURE_RELATIVE_SD):
    """mSPRT p-value of b against a: 1 / the mixture likelihood ratio, capped at 1.

    ``Λ = sqrt(V / (V + τ²)) · exp(d² τ² / (2 V (V + τ²)))`` with ``d`` the
    difference of rates, ``V = p(1 - p)(1/n_a + 1/n_b)`` at the pooled rate p,
    and ``τ = MIXTURE_RELATIVE_SD · p``. Scalars in, float out; arrays in,
    array out.
    """
    x_a, n_a, x_b, n_b = (np.asarray(v, dtype=float) for v in (x_a, n_a, x_b, n_b))
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = (x_a + x_b) / (n_a + n_b)
        variance = pooled * (1 - pooled) * (1 / n_a + 1 / n_b)
        tau2 = (tau * pooled) ** 2
        difference = x_b / n_b - x_a / n_a
        log_ratio = 0.5 * np.log(variance / (variance + tau2)) + difference**2 * tau2 / (
            2 * variance * (variance + tau2)
        )
        p_value = np.where(variance > 0, np.minimum(1.0, np.exp(-log_ratio)), 1.0)
    return float(p_value) if p_value.ndim == 0 else p_value


@dataclass(frozen=True)
class Decision:
    #: "winner", "keep_running", "not_enough_data" or "invalid" (sample-ratio mismatch).
    status: str
    winner: str | None
    reason: str


@dataclass(frozen=True)
class Contender:
    """One arm as the decision sees it: its primary metric and its test against control."""

    name: str
    successes: int
    units: int
    #: Always-valid p-value against control; None for the control itself.
    p_value: float | None = None
    #: Flagged by a guardrail: it may not win.
    flagged: bool = False


def decide(
    arms: Sequence[Contender],
    *,
    mismatch: bool = False,
    alpha: float = ALPHA,
    min_sample: int = MIN_SAMPLE,
) -> Decision:
    """A winner, or why there is none yet. ``arms[0]`` is the control.

    A challenger wins when it beats control with an always-valid p-value below
    alpha / (number of challengers) (Bonferroni: with three challengers, each
    gets a third of the error budget); if several do, the one with the highest
    rate. Control wins when every challenger is significantly worse. No winner
    while any arm is under ``min_sample`` units, and none at all after a
    sample-ratio mismatch, which means the arms are not comparable.
    """
    if mismatch:
        return Decision("invalid", None, "sample-ratio mismatch: arms are not comparable")
    if len(arms) < 2:
        return Decision("not_enough_data", None, "fewer than two arms")
    short = [arm for arm in arms if arm.units < min_sample]
    if short:
        names = ", ".join(f"{arm.name} ({arm.units:,})" for arm in short)
        return Decision("not_enough_data", None, f"under {min_sample:,} units: {names}")
    control, challengers = arms[0], arms[1:]
    level = alpha / len(challengers)

    def rate(arm: Contender) -> float:
        return arm.successes / arm.units

    significant = [arm for arm in challengers if arm.p_value is not None and arm.p_value < level]
    better = [arm for arm in significant if rate(arm) > rate(control) and not arm.flagged]
    if better:
        best = max(better, key=rate)
        return Decision("winner", best.name, f"beats {control.name} at alpha {level:.3g}")
    worse = [arm for arm in significant if rate(arm) < rate(control)]
    if len(worse) == len(challengers) and not control.flagged:
        return Decision("winner", control.name, f"every challenger is worse at alpha {level:.3g}")
    reason = f"no arm differs from {control.name} at alpha {level:.3g} yet"
    return Decision("keep_running", None, reason)
