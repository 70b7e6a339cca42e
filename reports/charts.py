"""Report charts: matplotlib figures rendered on the server to SVG text.

Each function takes plain values (strings, numbers, dates) and returns an
``<svg>`` element ready to put inline in an HTML page: no request, no model,
no JavaScript and nothing fetched, so a report opens offline and ``make demo``
can write the same charts into a file. Text stays text (``svg.fonttype``
"none"): it scales, can be searched and copied, and is what tests read.

pyplot is not used: it keeps global figures and is not safe across threads.
Figures are plain ``Figure`` objects; only matplotlib's rc settings are
global, so a lock keeps two requests from styling each other's charts.
"""

import io
import threading
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import date

import matplotlib as mpl
from matplotlib.figure import Figure
from matplotlib.ticker import PercentFormatter

#: The look of every chart: the admin's font size, no frame on top and right.
STYLE = {
    "font.size": 9,
    "font.family": "sans-serif",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    # Text as <text>, not outlines: smaller, selectable, readable by tests.
    "svg.fonttype": "none",
    # Labels are marketers' words: "$5 off" is text, not TeX math.
    "text.parse_math": False,
}
#: Bars and points: the admin's blue; the highlighted row (a control, say) in orange.
COLOR, HIGHLIGHT = "#417690", "#d97706"
#: Inches per row of a horizontal chart, and the width of every chart.
ROW_HEIGHT, WIDTH = 0.32, 7.5

_rendering = threading.Lock()


@dataclass(frozen=True)
class Interval:
    """One row of an interval chart: an estimate and its interval."""

    label: str
    value: float | None
    low: float | None
    high: float | None
    #: Drawn in the highlight colour (e.g. the control arm).
    highlight: bool = False


class _Chart:
    """``with _Chart(title, height) as chart:`` draw on ``chart.axes``; after
    the block ``chart.svg`` is the figure as SVG. The title also seeds the ids
    the drawing points at (its clip paths), so two charts on one page never
    clip by each other's, and the same chart is always the same text."""

    def __init__(self, title: str, height: float) -> None:
        self.title, self.height, self.svg = title, max(height, 1.2), ""

    def __enter__(self) -> "_Chart":
        with ExitStack() as held:
            held.enter_context(_rendering)
            held.enter_context(mpl.rc_context({**STYLE, "svg.hashsalt": self.title}))
            self.figure = Figure(figsize=(WIDTH, self.height), layout="constrained")
            self.axes = self.figure.add_subplot()
            self.axes.set_title(self.title)
            # Kept until __exit__; released at once if anything above failed.
            self._held = held.pop_all()
        return self

    def __exit__(self, *failure) -> None:
        with self._held:
            if failure[0] is None:
                buffer = io.StringIO()
                self.figure.savefig(buffer, format="svg", metadata={"Date": None})
                text = buffer.getvalue()
                # Inline SVG needs neither the XML declaration nor the DOCTYPE.
                self.svg = text[text.index("<svg") :]


def _empty(axes, message: str = "no data yet") -> None:
    axes.text(0.5, 0.5, message, ha="center", va="center", transform=axes.transAxes)
    axes.set_axis_off()


def funnel(steps: Sequence[tuple[str, int]], *, title: str) -> str:
    """Horizontal bars, first step on top, each labelled with its count and its
    share of the first bar (e.g. enrollments that entered, then each step)."""
    with _Chart(title, 0.7 + ROW_HEIGHT * len(steps)) as chart:
        axes = chart.axes
        counts = [count for _, count in steps]
        if not any(counts):
            _empty(axes)
        else:
            positions = range(len(steps))
            axes.barh(positions, counts, color=COLOR)
            axes.set_yticks(positions, [label for label, _ in steps])
            axes.invert_yaxis()
            axes.set_xlim(0, max(counts) * 1.25)
            for y, count in zip(positions, counts, strict=True):
                share = f" ({count / counts[0]:.0%})" if counts[0] else ""
                axes.annotate(f" {count:,}{share}", (count, y), va="center")
    return chart.svg


def intervals(
    rows: Sequence[Interval],
    *,
    title: str,
    axis: str,
    percent: bool = True,
    reference: float | None = None,
) -> str:
    """Points with 95 % interval whiskers, one row each (rates per arm, lifts
    against control). ``reference`` draws a vertical line (0 for a lift)."""
    with _Chart(title, 0.9 + ROW_HEIGHT * len(rows)) as chart:
        axes = chart.axes
        shown = [row for row in rows if row.value is not None]
        if not shown:
            _empty(axes)
        else:
            for y, row in enumerate(shown):
                colour = HIGHLIGHT if row.highlight else COLOR
                if row.low is not None and row.high is not None:
                    axes.hlines(y, row.low, row.high, color=colour, linewidth=2)
                axes.plot([row.value], [y], "o", color=colour)
            axes.set_yticks(range(len(shown)), [row.label for row in shown])
            axes.set_ylim(len(shown) - 0.5, -0.5)
            if reference is not None:
                axes.axvline(reference, color="#888888", linewidth=1, linestyle="--")
            if percent:
                axes.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
            axes.set_xlabel(axis)
    return chart.svg


def stacked(
    days: Sequence[date], series: Mapping[str, Sequence[float]], *, title: str, axis: str
) -> str:
    """Areas stacked over time, one per series in order (customers per stage)."""
    with _Chart(title, 3.2) as chart:
        axes = chart.axes
        if not days:
            _empty(axes)
        else:
            axes.stackplot(list(days), *series.values(), labels=list(series))
            axes.set_ylabel(axis)
            axes.set_xlim(days[0], days[-1])
            axes.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
            chart.figure.autofmt_xdate()
    return chart.svg


def lines(
    days: Sequence[date], series: Mapping[str, Sequence[float]], *, title: str, axis: str
) -> str:
    """A line per series over time (e.g. lapsed customers)."""
    with _Chart(title, 2.6) as chart:
        axes = chart.axes
        if not days:
            _empty(axes)
        else:
            for name, values in series.items():
                axes.plot(list(days), list(values), marker=".", label=name)
            axes.set_ylabel(axis)
            axes.set_ylim(bottom=0)
            axes.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
            chart.figure.autofmt_xdate()
    return chart.svg


def matrix(
    rows: Sequence[str],
    columns: Sequence[str],
    values: Sequence[Sequence[int]],
    *,
    title: str,
    row_axis: str,
    column_axis: str,
) -> str:
    """A heat map with each cell's count written in it (moves from → to)."""
    with _Chart(title, 1.2 + 0.4 * len(rows)) as chart:
        axes = chart.axes
        if not rows or not columns:
            _empty(axes)
        else:
            axes.imshow(values, cmap="Blues", aspect="auto")
            axes.set_xticks(range(len(columns)), columns)
            axes.set_yticks(range(len(rows)), rows)
            axes.set_xlabel(column_axis)
            axes.set_ylabel(row_axis)
            axes.spines[:].set_visible(False)
            peak = max((v for row in values for v in row), default=0)
            for y, row in enumerate(values):
                for x, value in enumerate(row):
                    if value:
                        dark = value > peak * 0.6
                        axes.text(x, y, f"{value:,}", ha="center", va="center",
                                  color="white" if dark else "black")  # fmt: skip
    return chart.svg


def grouped_bars(
    groups: Sequence[str], series: Mapping[str, Sequence[float]], *, title: str, axis: str
) -> str:
    """Bars side by side per group, one colour per series (stays per length band, by stage)."""
    with _Chart(title, 3.0) as chart:
        axes = chart.axes
        if not groups or not series:
            _empty(axes)
        else:
            width = 0.8 / len(series)
            for n, (name, values) in enumerate(series.items()):
                offsets = [g + (n - (len(series) - 1) / 2) * width for g in range(len(groups))]
                axes.bar(offsets, list(values), width=width, label=name)
            axes.set_xticks(range(len(groups)), groups)
            axes.set_ylabel(axis)
            axes.legend(loc="upper left", bbox_to_anchor=(1, 1), frameon=False)
    return chart.svg
