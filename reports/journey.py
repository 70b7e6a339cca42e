"""A journey's report: its funnel, the results of each of its experiments, charts.

The figures are ``journeys.selectors.journey_funnel`` and
``campaigns.analysis.results.experiment_results``, the function ``ab_report``
prints: nothing is counted or tested a second time here.
"""

from dataclasses import asdict, dataclass

from campaigns.analysis.experiments import journey_experiments
from campaigns.analysis.formats import csv_text
from campaigns.analysis.results import METRICS, PRIMARY_METRIC, ExperimentResult, experiment_results
from journeys.models import Journey
from journeys.selectors import Funnel, journey_funnel
from reports import charts

FUNNEL_COLUMNS = ("journey", "version", "position", "step", "type", "measure", "name", "count")


@dataclass(frozen=True)
class JourneyReport:
    key: str
    name: str
    status: str
    live_version: int | None
    #: Every version number, newest first (the page offers each as a filter).
    versions: list[int]
    funnel: Funnel
    #: Its split steps, then the multi-variant messages it sends.
    experiments: list[ExperimentResult]
    #: The metric winners are decided on.
    metric: str


def journey_report(
    journey: Journey,
    *,
    version: int | None = None,
    metric: str = PRIMARY_METRIC,
    experiments: bool = True,
) -> JourneyReport:
    """Everything the journey's report page, CSV and JSON show; with
    ``experiments=False`` the funnel alone (``experiments`` is then empty).

    Raises ``ResultsError`` for an unknown metric and ``LookupError`` for a
    version the journey does not have."""
    versions = list(journey.versions.order_by("-number").values_list("number", flat=True))
    if version is not None and version not in versions:
        raise LookupError(f"journey {journey.key!r} has no version {version}")
    return JourneyReport(
        key=journey.key,
        name=journey.name,
        status=journey.status,
        live_version=journey.live_version.number if journey.live_version else None,
        versions=versions,
        funnel=journey_funnel(journey, version=version),
        experiments=[
            experiment_results(experiment.key, metric=metric)
            for experiment in (journey_experiments(journey) if experiments else [])
        ],
        metric=metric,
    )


def funnel_chart(funnel: Funnel, *, title: str) -> str:
    """Enrollments that entered, then how many passed each step."""
    return charts.funnel(
        [("entered", funnel.entered), *((step.key, step.passed) for step in funnel.steps)],
        title=title,
    )


def rate_chart(result: ExperimentResult, metric: str) -> str:
    """Each arm's rate on ``metric`` with its Wilson 95 % interval."""
    rows = [
        charts.Interval(
            f"{arm.name} (control)" if arm.is_control else arm.name,
            arm.metrics[metric].rate,
            arm.metrics[metric].ci_low,
            arm.metrics[metric].ci_high,
            highlight=arm.is_control,
        )
        for arm in result.arms
    ]
    counted, of, _ = METRICS[metric]
    per = "email sent" if of == "sent" else result.unit
    return charts.intervals(
        rows, title=f"{result.title}: {metric}", axis=f"{counted} per {per} (95% interval)"
    )


def lift_chart(result: ExperimentResult) -> str:
    """Each challenger's lift over control on every metric, with its 95 % interval."""
    rows = [
        charts.Interval(
            f"{arm.name}: {metric}", m.lift, m.lift_low, m.lift_high, highlight=bool(arm.flags)
        )
        for arm in result.arms
        if not arm.is_control
        for metric, m in arm.metrics.items()
    ]
    return charts.intervals(
        rows,
        title=f"{result.title}: lift over {result.control}",
        axis="relative lift (95% interval)",
        reference=0.0,
    )


def experiment_charts(result: ExperimentResult) -> list[str]:
    return [rate_chart(result, result.metric), lift_chart(result)]


def journey_json(report: JourneyReport) -> dict:
    """The whole report as JSON-ready data; experiments as ``ab_report --format json``."""
    return asdict(report)


def funnel_csv(report: JourneyReport) -> str:
    """The funnel as long-format CSV, one row per figure: ``entered``,
    ``converted`` and ``active`` for the journey (no step), then per step
    ``passed``, each ``outcome``, ``waiting`` and ``ended`` by reason."""
    funnel = report.funnel
    version = "" if funnel.version is None else funnel.version
    head = (report.key, version)
    rows: list[tuple] = [
        (*head, "", "", "", "entered", "", funnel.entered),
        (*head, "", "", "", "converted", "", funnel.converted),
        (*head, "", "", "", "active", "", funnel.active),
    ]
    for position, step in enumerate(funnel.steps, start=1):
        at = (*head, position, step.key, step.type)
        rows.append((*at, "passed", "", step.passed))
        rows += [(*at, "outcome", name, count) for name, count in step.outcomes.items()]
        rows.append((*at, "waiting", "", step.waiting))
        rows += [(*at, "ended", reason, count) for reason, count in step.ended.items()]
    return csv_text(FUNNEL_COLUMNS, rows)
