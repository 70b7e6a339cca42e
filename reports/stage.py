"""The ladder report: customers per stage over time, moves between stages,
time in stage, lapsed customers, over a period cut into days, weeks or months.

The figures are ``customers.lifecycle.history``'s; this module picks the
period, draws the charts and writes the CSV and JSON.
"""

from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise

from django import forms

from campaigns.analysis.formats import csv_text
from customers.lifecycle.history import (
    BUCKETS,
    STAY_EDGES,
    Lapsed,
    Stays,
    buckets_between,
    lapsed_counts,
    stage_counts,
    stage_transitions,
    stages_ordered,
    time_in_stage,
)
from customers.models import Stage
from reports import charts

#: What the page shows with no period chosen: the last 12 weeks, by week.
DEFAULT_DAYS, DEFAULT_BUCKET = 84, "week"
#: More buckets than this make an unreadable chart and table: choose a longer bucket.
MAX_BUCKETS = 400
#: Labels of the time-in-stage bands (``STAY_EDGES``, in days).
STAY_BANDS = (
    f"under {STAY_EDGES[0]} day",
    *(f"{low}-{high} days" for low, high in pairwise(STAY_EDGES)),
    f"{STAY_EDGES[-1]}+ days",
)


class PeriodForm(forms.Form):
    """The period, both days included, from the page's query string."""

    start = forms.DateField(required=False, help_text="first day (YYYY-MM-DD)")
    end = forms.DateField(required=False, help_text="last day, included (YYYY-MM-DD)")
    bucket = forms.ChoiceField(choices=[(b, b) for b in BUCKETS], required=False)

    def __init__(self, data, *, today: date) -> None:
        super().__init__(data)
        self.today = today

    def clean(self) -> dict:
        data = super().clean()
        end = data.get("end") or self.today
        start = data.get("start") or end - timedelta(days=DEFAULT_DAYS - 1)
        bucket = data.get("bucket") or DEFAULT_BUCKET
        if start > end:
            raise forms.ValidationError(f"the period starts ({start}) after it ends ({end})")
        period = Period(start=start, end=end, bucket=bucket)
        if len(period.buckets) > MAX_BUCKETS:
            raise forms.ValidationError(
                f"{len(period.buckets)} {bucket}s is more than {MAX_BUCKETS}: "
                "choose a shorter period or a longer bucket"
            )
        data["period"] = period
        return data


@dataclass(frozen=True)
class Period:
    #: First and last day (UTC), both included.
    start: date
    end: date
    #: "day", "week" or "month".
    bucket: str

    @property
    def since(self) -> datetime:
        return datetime.combine(self.start, time(), UTC)

    @property
    def until(self) -> datetime:
        """The moment after the last day: the period is ``[since, until)``."""
        return datetime.combine(self.end + timedelta(days=1), time(), UTC)

    @property
    def buckets(self) -> list[date]:
        return buckets_between(self.since, self.until, self.bucket)


@dataclass(frozen=True)
class StageReport:
    period: Period
    #: (first day of bucket, stage -> customers on it at the bucket's end).
    counts: list[tuple[date, dict[str, int]]]
    #: (from stage, to stage, moves); from "" is a new customer. Ladder order.
    transitions: list[tuple[str, str, int]]
    #: Stage -> its stays, in ladder order.
    stays: dict[str, Stays]
    lapsed: Lapsed


def stage_report(period: Period, *, now: datetime) -> StageReport:
    moves = stage_transitions(start=period.since, end=period.until)
    order = stages_ordered({stage for pair in moves for stage in pair})
    return StageReport(
        period=period,
        counts=stage_counts(start=period.since, end=period.until, bucket=period.bucket),
        transitions=[(a, b, moves[a, b]) for a in order for b in order if moves.get((a, b))],
        stays=time_in_stage(start=period.since, end=period.until, now=now),
        lapsed=lapsed_counts(start=period.since, end=period.until, bucket=period.bucket),
    )


def _label(stage: str) -> str:
    return Stage(stage).label if stage else "(new)"


def transition_grid(report: StageReport) -> tuple[list[str], list[str], list[list[int]]]:
    """(from stages, to stages, counts[from][to]): the moves as a grid, in ladder
    order, with only the stages that moved."""
    sources = stages_ordered({a for a, _, _ in report.transitions})
    targets = stages_ordered({b for _, b, _ in report.transitions})
    moves = {(a, b): n for a, b, n in report.transitions}
    return sources, targets, [[moves.get((a, b), 0) for b in targets] for a in sources]


def stage_charts(report: StageReport) -> dict[str, str]:
    """Chart name -> SVG, for the page (and for anyone writing a report file)."""
    days = [day for day, _ in report.counts]
    per = f"at the end of each {report.period.bucket}"
    sources, targets, grid = transition_grid(report)
    return {
        "counts": charts.stacked(
            days,
            {Stage(s).label: [c[s] for _, c in report.counts] for s in Stage.values},
            title=f"Customers per stage, {per}",
            axis="customers",
        ),
        "transitions": charts.matrix(
            [_label(s) for s in sources],
            [_label(s) for s in targets],
            grid,
            title="Moves between stages in the period",
            row_axis="from",
            column_axis="to",
        ),
        "time_in_stage": charts.grouped_bars(
            list(STAY_BANDS),
            {
                Stage(s).label: list(stays.distribution)
                for s, stays in report.stays.items()
                if stays.ended
            },
            title="Stays that ended in the period, by length",
            axis="stays",
        ),
        "lapsed": charts.lines(
            [day for day, _, _ in report.lapsed.buckets],
            {
                "lapsed (still)": [total for _, _, total in report.lapsed.buckets],
                f"lapsed that {report.period.bucket}": [n for _, n, _ in report.lapsed.buckets],
            },
            title=f"Lapsed customers, {per}",
            axis="customers",
        ),
    }


def _bands(stays: Stays) -> dict[str, int]:
    return dict(zip(STAY_BANDS, stays.distribution, strict=True))


def stage_json(report: StageReport) -> dict:
    """The whole report as JSON-ready data (dates as YYYY-MM-DD)."""
    return {
        "period": asdict(report.period),
        "counts": [{"bucket": day, **counts} for day, counts in report.counts],
        "transitions": [
            {"from": a or None, "to": b, "customers": n} for a, b, n in report.transitions
        ],
        "time_in_stage": {
            stage: {**asdict(stays), "distribution": _bands(stays)}
            for stage, stays in report.stays.items()
        },
        "lapsed": {
            "now": {
                stage: {"customers": customers, "lapsed": lapsed}
                for stage, (customers, lapsed) in report.lapsed.now.items()
            },
            "buckets": [
                {"bucket": day, "newly_lapsed": new, "lapsed": total}
                for day, new, total in report.lapsed.buckets
            ],
        },
    }


def _counts_table(report: StageReport) -> tuple[tuple, list]:
    rows = [(day, *(counts[s] for s in Stage.values)) for day, counts in report.counts]
    return ("bucket", *Stage.values), rows


def _transitions_table(report: StageReport) -> tuple[tuple, list]:
    rows = [(a or "(new)", b, n) for a, b, n in report.transitions]
    return ("from_stage", "to_stage", "customers"), rows


def _time_in_stage_table(report: StageReport) -> tuple[tuple, list]:
    columns = ("stage", "ended", "median_days", *STAY_BANDS, "ongoing", "ongoing_median_days")
    rows = [
        (s, t.ended, t.median_days, *t.distribution, t.ongoing, t.ongoing_median_days)
        for s, t in report.stays.items()
    ]
    return columns, rows


def _lapsed_table(report: StageReport) -> tuple[tuple, list]:
    return ("bucket", "newly_lapsed", "lapsed"), report.lapsed.buckets


#: The CSV tables a stage report offers, by the name in their URL.
TABLES = {
    "counts": _counts_table,
    "transitions": _transitions_table,
    "time_in_stage": _time_in_stage_table,
    "lapsed": _lapsed_table,
}


def stage_csv(report: StageReport, table: str) -> str:
    """One of ``TABLES`` as CSV; ``LookupError`` for another name."""
    if table not in TABLES:
        raise LookupError(f"there is no table {table!r}; the tables are {', '.join(TABLES)}")
    return csv_text(*TABLES[table](report))
