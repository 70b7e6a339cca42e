"""An experiment's results: counts from SQL, statistics per arm, a decision.

``experiment_results(key)`` is what the ``ab_report`` command and the admin
report pages call; it returns plain dataclasses, so each caller only decides
how to show them.
"""

from dataclasses import dataclass, field, replace
from decimal import Decimal

from campaigns.analysis import stats
from campaigns.analysis.aggregate import ArmCounts, message_counts
from campaigns.analysis.experiments import Experiment, experiment_get
from campaigns.analysis.sequential import (
    ALPHA,
    MIN_SAMPLE,
    Contender,
    Decision,
    always_valid_p_value,
    decide,
)
from campaigns.analysis.splits import split_counts

#: Metric -> (ArmCounts field counted, field it is a share of, higher is better).
#: Email metrics are per email sent; conversions are per unit (an email for
#: message experiments, an enrollment for splits).
METRICS = {
    "delivered": ("delivered", "sent", True),
    "opens": ("opened", "sent", True),
    "clicks": ("clicked", "sent", True),
    "conversions": ("converted", "units", True),
    "unsubscribes": ("unsubscribed", "sent", False),
    "complaints": ("complained", "sent", False),
}
#: What winners are decided on unless the caller says otherwise: the journey's goal.
PRIMARY_METRIC = "conversions"
#: Guardrails: an arm whose rate is above the limit even at the lower end of its
#: 95 % interval is flagged and cannot win. 0.3 % complaints is the limit Gmail
#: and Yahoo set for bulk senders (2024); 1 % unsubscribes is several times the
#: usual rate.
GUARDRAILS = {"unsubscribes": 0.01, "complaints": 0.003}


class ResultsError(ValueError):
    """The arguments do not fit the experiment (unknown control arm or metric)."""


@dataclass(frozen=True)
class MetricResult:
    count: int
    total: int
    rate: float | None
    ci_low: float | None
    ci_high: float | None
    # Against control; None for the control itself or when undefined.
    lift: float | None = None
    lift_low: float | None = None
    lift_high: float | None = None
    #: Fixed-horizon two-proportion z-test: for reference, not for stopping.
    p_value: float | None = None
    #: mSPRT p-value: valid whenever and however often it is looked at.
    always_valid_p: float | None = None
    #: Posterior probability this arm is better than control (lower is better
    #: for unsubscribes and complaints).
    prob_beat_control: float | None = None


@dataclass(frozen=True)
class ArmResult:
    name: str
    weight: float
    is_control: bool
    units: int
    sent: int
    #: Goal events credited to the arm (a unit may convert more than once).
    conversions: int
    revenue: dict[str, Decimal]
    metrics: dict[str, MetricResult]
    #: Guardrails this arm crossed, e.g. ["complaints"].
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class SampleRatioResult:
    #: Arm -> configured share of units.
    expected: dict[str, float]
    #: Arm -> units observed.
    observed: dict[str, int]
    statistic: float
    p_value: float
    mismatch: bool


@dataclass(frozen=True)
class ExperimentResult:
    key: str
    kind: str
    title: str
    unit: str
    metric: str
    control: str
    alpha: float
    min_sample: int
    arms: list[ArmResult]
    sample_ratio: SampleRatioResult | None
    decision: Decision
    warnings: list[str]


def _metric(counts: ArmCounts, control: ArmCounts | None, metric: str) -> MetricResult:
    counted, of, higher_is_better = METRICS[metric]
    x, n = getattr(counts, counted), getattr(counts, of)
    interval = stats.wilson_interval(x, n)
    result = MetricResult(
        count=x,
        total=n,
        rate=x / n if n else None,
        ci_low=interval[0] if interval else None,
        ci_high=interval[1] if interval else None,
    )
    if control is None:
        return result
    x_a, n_a = getattr(control, counted), getattr(control, of)
    lift = stats.relative_lift(x_a, n_a, x, n) or (None, None, None)
    above = stats.probability_to_beat(x_a, n_a, x, n)
    return replace(
        result,
        lift=lift[0],
        lift_low=lift[1],
        lift_high=lift[2],
        p_value=stats.two_proportion_p_value(x_a, n_a, x, n),
        always_valid_p=always_valid_p_value(x_a, n_a, x, n) if n_a and n else None,
        prob_beat_control=above if above is None or higher_is_better else 1 - above,
    )


def _flags(metrics: dict[str, MetricResult]) -> list[str]:
    return [
        name
        for name, limit in GUARDRAILS.items()
        if metrics[name].ci_low is not None and metrics[name].ci_low > limit
    ]


def _sample_ratio(experiment: Experiment, counts: dict[str, ArmCounts]) -> SampleRatioResult | None:
    """The check over the arms that are meant to get customers: a variant set to
    weight 0 (paused) expects none, and its earlier sends say nothing about the split."""
    arms = [arm for arm in experiment.arms if arm.weight > 0]
    check = stats.sample_ratio([counts[arm.name].units for arm in arms], [a.weight for a in arms])
    if check is None:
        return None
    total = sum(arm.weight for arm in arms)
    return SampleRatioResult(
        expected={arm.name: arm.weight / total for arm in arms},
        observed={arm.name: counts[arm.name].units for arm in arms},
        statistic=check.statistic,
        p_value=check.p_value,
        mismatch=check.mismatch,
    )


def experiment_results(
    key: str,
    *,
    control: str | None = None,
    metric: str = PRIMARY_METRIC,
    alpha: float = ALPHA,
    min_sample: int = MIN_SAMPLE,
) -> ExperimentResult:
    """Everything a report shows about one experiment.

    ``control`` names the arm the others are compared with (default: the first
    variant by key, or the first branch of the split); ``metric`` is the one a
    winner is decided on. Raises ``UnknownExperiment`` or ``ResultsError``.
    """
    experiment = experiment_get(key)
    names = [arm.name for arm in experiment.arms]
    control = names[0] if control is None else control
    if control not in names:
        raise ResultsError(f"{key} has no arm {control!r}; its arms are {', '.join(names)}")
    if metric not in METRICS:
        raise ResultsError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    # The control first: every comparison and the decision read it there.
    arms = sorted(experiment.arms, key=lambda arm: arm.name != control)
    counts = (message_counts if experiment.kind == "message" else split_counts)(experiment)

    results = []
    for arm in arms:
        baseline = None if arm.name == control else counts[control]
        metrics = {name: _metric(counts[arm.name], baseline, name) for name in METRICS}
        results.append(
            ArmResult(
                name=arm.name,
                weight=arm.weight,
                is_control=baseline is None,
                units=counts[arm.name].units,
                sent=counts[arm.name].sent,
                conversions=counts[arm.name].conversions,
                revenue=counts[arm.name].revenue,
                metrics=metrics,
                flags=_flags(metrics),
            )
        )

    ratio = _sample_ratio(experiment, counts)
    warnings = []
    if ratio is not None and ratio.mismatch:
        shares = ", ".join(
            f"{name} {ratio.observed[name]:,} ({ratio.expected[name]:.0%} expected)"
            for name in ratio.observed
        )
        warnings.append(
            f"sample-ratio mismatch (chi-square p = {ratio.p_value:.2g}): {shares}. "
            "Assignment or sending is not working as configured; results are not comparable."
        )
    warnings += [f"{arm.name}: {name} above the guardrail" for arm in results for name in arm.flags]
    decision = decide(
        [
            Contender(
                name=arm.name,
                successes=arm.metrics[metric].count,
                units=arm.metrics[metric].total,
                p_value=arm.metrics[metric].always_valid_p,
                flagged=bool(arm.flags),
            )
            for arm in results
        ],
        mismatch=ratio is not None and ratio.mismatch,
        alpha=alpha,
        min_sample=min_sample,
    )
    return ExperimentResult(
        key=experiment.key,
        kind=experiment.kind,
        title=experiment.title,
        unit=experiment.unit,
        metric=metric,
        control=control,
        alpha=alpha,
        min_sample=min_sample,
        arms=results,
        sample_ratio=ratio,
        decision=decision,
        warnings=warnings,
    )
