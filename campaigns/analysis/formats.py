"""An ``ExperimentResult`` as text for people, JSON for programs, CSV for spreadsheets."""

import csv
import io
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict

from campaigns.analysis.figures import interval, money, number, percent
from campaigns.analysis.results import METRICS, ExperimentResult

#: A spreadsheet runs a cell starting with one of these as a formula (OWASP
#: "CSV injection"); arm names and titles come from marketers' input.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

CSV_COLUMNS = (
    "experiment",
    "arm",
    "control",
    "weight",
    "units",
    "metric",
    "currency",
    "count",
    "total",
    "value",
    "rate",
    "ci_low",
    "ci_high",
    "lift",
    "lift_low",
    "lift_high",
    "p_value",
    "always_valid_p",
    "prob_beat_control",
)


def json_text(data: object) -> str:
    """Indented JSON; decimals, dates and datetimes as strings (no cent lost to
    floating point), and no NaN, which JSON does not have."""
    return json.dumps(data, indent=2, default=str, allow_nan=False) + "\n"


def as_json(result: ExperimentResult) -> str:
    return json_text(asdict(result))


def csv_cell(value: object) -> object:
    """Text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return "" if value is None else value


def csv_text(columns: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A header and rows as CSV, every cell made safe for spreadsheets; a row
    shorter than the header is padded with empty cells."""
    out = io.StringIO()
    # RFC 4180's CRLF: the writer then quotes any cell holding a CR or LF.
    writer = csv.writer(out)
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(v) for v in [*row, *[""] * (len(columns) - len(row))]])
    return out.getvalue()


def as_csv(result: ExperimentResult) -> str:
    """One row per arm and metric, and one per arm and currency for revenue."""
    rows = []
    for arm in result.arms:
        head = [result.key, arm.name, arm.is_control, arm.weight, arm.units]
        for name, m in arm.metrics.items():
            tail = [m.rate, m.ci_low, m.ci_high, m.lift, m.lift_low, m.lift_high]
            tail += [m.p_value, m.always_valid_p, m.prob_beat_control]
            rows.append([*head, name, "", m.count, m.total, "", *tail])
        for currency, value in sorted(arm.revenue.items()):
            rows.append([*head, "revenue", currency, arm.conversions, "", value])
    return csv_text(CSV_COLUMNS, rows)


def _table(rows: list[list[str]]) -> list[str]:
    """Columns padded to their widest cell; numbers line up well enough left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def _arms_table(result: ExperimentResult) -> list[str]:
    rows = [["arm", "weight", f"{result.unit}s", "sent", "conversions", "revenue"]]
    for arm in result.arms:
        rows.append(
            [
                f"{arm.name} (control)" if arm.is_control else arm.name,
                f"{arm.weight:g}",
                f"{arm.units:,}",
                f"{arm.sent:,}",
                f"{arm.conversions:,}",
                money(arm.revenue),
            ]
        )
    return _table(rows)


def _metric_table(result: ExperimentResult, metric: str) -> list[str]:
    heading = ["arm", "count", "rate", "95% CI", "lift", "lift 95% CI", "p", "p always valid"]
    rows = [[*heading, "P(better)"]]
    for arm in result.arms:
        m = arm.metrics[metric]
        rows.append(
            [
                arm.name,
                f"{m.count:,}",
                percent(m.rate),
                interval(m.ci_low, m.ci_high),
                percent(m.lift, signed=True),
                interval(m.lift_low, m.lift_high, signed=True),
                number(m.p_value),
                number(m.always_valid_p),
                percent(m.prob_beat_control),
            ]
        )
    return _table(rows)


def as_text(result: ExperimentResult) -> str:
    per = {"units": "email sent" if result.unit == "email" else result.unit, "sent": "email sent"}
    lines = [
        f"{result.key}: {result.title}",
        f"unit: {result.unit}; control: {result.control}; decided on {result.metric} "
        f"(alpha {result.alpha:g}, at least {result.min_sample:,} per arm)",
        "",
        *_arms_table(result),
    ]
    for metric, (_, of, _) in METRICS.items():
        lines += ["", f"{metric} (per {per[of]})", *_metric_table(result, metric)]
    lines.append("")
    ratio = result.sample_ratio
    if ratio is not None:
        verdict = "MISMATCH" if ratio.mismatch else "ok"
        test = f"chi-square {ratio.statistic:.3g}, p {ratio.p_value:.3g}"
        lines.append(f"sample ratio: {test}: {verdict}")
    decision = result.decision
    outcome = f"winner {decision.winner}" if decision.winner else decision.status.replace("_", " ")
    lines.append(f"decision: {outcome} ({decision.reason})")
    lines += [f"warning: {warning}" for warning in result.warnings]
    return "\n".join(lines) + "\n"
