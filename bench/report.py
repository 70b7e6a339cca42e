"""One report from the scenarios' results: figures, peers, ratios, targets, checks, memory.

Pure functions over the JSON each scenario prints (no Django, no database),
so what ``python -m bench`` concludes from a run is tested without running
one (tests/bench/):

- ``figures`` turns a scenario's result into rows: each figure, its peer
  measured in the same run, their ratio, and the issue's target with the
  verdict (met, or missed by how much).
- ``checks`` and ``peaks`` gather the correctness checks and the peak memory
  of every worker process, whatever shape the scenario reports them in.
- ``report_build`` merges every scenario into the one results file.
- ``latest_merge`` keeps, per scenario, the last full-size figures, and
  ``docs_rewrite`` renders them into docs/performance.md between markers.
"""

import math
import statistics
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from bench.ab_report import TARGET_SECONDS as AB_REPORT_SECONDS
from bench.delivery import RATIO_TARGET as DELIVERY_RATIO
from bench.delivery import TARGETS as DELIVERY_RATES
from bench.sweep import TARGET_SECONDS as SWEEP_SECONDS

#: Every scenario, in the order a run takes them.
SCENARIOS = ("ingest", "engine", "delivery", "webhooks", "ab_report", "sweep")

#: Issue #2's target for event ingestion, events/s.
INGEST_RATE = 10_000
#: Issue #3's targets for the journey engine, seconds.
ENGINE_SECONDS = {"activation": 60, "advancing": 20}

#: The lines around the generated part of docs/performance.md.
DOCS_BEGIN = "<!-- bench:results:begin — written by python -m bench; edit bench/report.py -->"
DOCS_END = "<!-- bench:results:end -->"


class DocsMarkersMissing(ValueError):
    pass


@dataclass(frozen=True)
class Target:
    #: ">=" (a rate) or "<=" (a time)
    op: str
    value: float
    #: Where it was set, e.g. "#4".
    issue: str


@dataclass(frozen=True)
class Figure:
    scenario: str
    name: str
    value: float
    unit: str
    #: min and max over interleaved rounds, when there were several
    low: float | None = None
    high: float | None = None
    target: Target | None = None
    #: False when the run was smaller than the size the target is set for
    applies: bool = True
    #: what else to say: latencies, CPU per item, the peer's name
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.target is None or not self.applies:
            return None
        if self.target.op == ">=":
            return self.value >= self.target.value
        return self.value <= self.target.value


def _digits(value: float, unit: str) -> str:
    if unit == "x":
        return f"{value:.2f}" if value < 10 else f"{value:.1f}"
    if unit == "s":
        return f"{value:,.2f}"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:,.3g}"


def _number(value: float, unit: str) -> str:
    digits = _digits(value, unit)
    return f"{digits}x" if unit == "x" else f"{digits} {unit}"


def measured_text(figure: Figure) -> str:
    """ "5,812 msg/s (min-max 5,700-5,900)"."""
    text = _number(figure.value, figure.unit)
    if figure.low is not None and figure.high is not None and figure.low != figure.high:
        low, high = (_digits(v, figure.unit) for v in (figure.low, figure.high))
        text += f" (min-max {low}-{high})"
    return text


def verdict_text(figure: Figure) -> str:
    """ "≥ 5,000 msg/s (#4): met", or by how much it was missed, or why it does not apply."""
    target = figure.target
    if target is None:
        return "—"
    sign = "≥" if target.op == ">=" else "≤"
    wanted = f"{sign} {_number(target.value, figure.unit)} ({target.issue})"
    if not figure.applies:
        return f"{wanted}: applies at full size"
    if figure.met:
        return f"{wanted}: met"
    gap = abs(figure.value - target.value)
    share = gap / target.value if target.value else math.inf
    return f"{wanted}: **missed by {_number(gap, figure.unit)} ({share:.0%})**"


def figure_from(row: dict[str, Any]) -> Figure:
    """A figure back from its JSON form (the results file, bench/latest.json)."""
    fields = {k: v for k, v in row.items() if k not in ("target", "met")}
    return Figure(**fields, target=Target(**row["target"]) if row["target"] else None)


# --- Figures per scenario ----------------------------------------------------


def _median(values: Iterable[float | None]) -> float:
    return statistics.median(value or 0 for value in values)


def _load(share: float | None) -> str:
    """Other processes' share of the machine while measuring: a rate taken on a
    busy machine understates what it does alone (CPU per item does not)."""
    return f"; other load {share:.0%}" if share else ""


def _ingest(result: dict[str, Any], full: bool) -> list[Figure]:
    return [
        Figure(
            "ingest",
            f"events/s through the HTTP API ({result['events']:,} events, "
            f"{result['config']['clients']} clients)",
            result["events_per_second"],
            "events/s",
            target=Target(">=", INGEST_RATE, "#2"),
            applies=full,
            note=f"p50 {result['batch_ms_p50']} ms, p99 {result['batch_ms_p99']} ms per "
            f"{result['config']['batch']:,}-event batch; {result['cpu_us_per_event']} CPU µs/event"
            + _load(result["other_load"]),
        )
    ]


def _engine(result: dict[str, Any], full: bool) -> list[Figure]:
    activation, advancing = result["activation"], result["advancing"]
    return [
        Figure(
            "engine",
            f"activation over {result['customers']:,} customers",
            activation["seconds"],
            "s",
            target=Target("<=", ENGINE_SECONDS["activation"], "#3"),
            applies=full,
            note=f"{activation['enrolled']:,} enrolled, {activation['enrolled_per_second']:,}/s",
        ),
        Figure(
            "engine",
            f"advancing {advancing['due']:,} due enrollments",
            advancing["seconds"],
            "s",
            target=Target("<=", ENGINE_SECONDS["advancing"], "#3"),
            applies=full,
            note=f"{advancing['advanced_per_second']:,}/s with {advancing['workers']} "
            "Celery workers",
        ),
    ]


#: delivery path -> what the table calls it
DELIVERY_PATHS = {
    "batch": "batch path (Postmark batch backend)",
    "per-message": "per-message path (anymail's Postmark backend)",
    "embedded": "embedded default (SQLite, .eml outbox)",
    "naive": "peer: naive Celery task per email",
    "post-office": "peer: django-post-office",
}


def _delivery(result: dict[str, Any], full: bool) -> list[Figure]:
    summary, config = result["summary"], result["config"]
    sizes = {
        "naive": config["naive"],
        "post-office": config["post_office"],
        "embedded": config["embedded"],
    }
    rows = []
    for path, label in DELIVERY_PATHS.items():
        if path not in summary:
            continue
        rate = summary[path]["messages_per_second"]
        target = DELIVERY_RATES.get(path)
        rows.append(
            Figure(
                "delivery",
                f"{label}, {sizes.get(path, config['deliveries']):,} deliveries",
                rate["median"],
                "msg/s",
                rate["min"],
                rate["max"],
                target=Target(">=", target, "#4") if target else None,
                applies=full,
                note=f"{summary[path]['cpu_us_per_message_ours']['median']:,.0f} CPU µs/msg"
                + _load(summary[path]["other_load"]["median"]),
            )
        )
    for name, ratio in result["ratios"].items():
        wanted = name in ("batch/naive", "batch/post-office")
        rows.append(
            Figure(
                "delivery",
                f"ratio {name.replace('/', ' ÷ ')} (median of the rounds)",
                ratio["median"],
                "x",
                ratio["min"],
                ratio["max"],
                target=Target(">=", DELIVERY_RATIO, "#4") if wanted else None,
                applies=full,
            )
        )
    render = result["render_email_per_second_median"]
    notes = [
        f"{path} sends {share:.0%} of it per core"
        for path, share in result["share_of_render_ceiling_per_core"].items()
    ]
    if result.get("render_ceiling"):
        # The machine's own speed, so runs on a slower or faster day compare.
        body = statistics.median(c["jinja2_body_us"] for c in result["render_ceiling"])
        notes.append(f"plain Jinja2 renders the body in {body:.0f} µs")
    rows.append(
        Figure(
            "delivery",
            "ceiling: render_email of the same template, one core",
            render,
            "emails/s",
            note="; ".join(notes),
        )
    )
    return rows


def _webhooks(result: dict[str, Any], full: bool) -> list[Figure]:
    rate, peer, ratio = (
        result["events_per_second"],
        result["peer_events_per_second"],
        result["ratio"],
    )
    config = result["config"]
    return [
        Figure(
            "webhooks",
            f"Postmark tracking events through anymail's endpoint ({config['clients']} "
            f"clients, {sum(result['posts_per_round']):,} posts)",
            rate["median"],
            "events/s",
            rate["min"],
            rate["max"],
            note=f"p50 {result['ms']['p50']} ms, p99 {result['ms']['p99']} ms per event; "
            f"{result['cpu_us_per_event']:,.0f} CPU µs/event"
            + _load(_median(r["ladder"]["other_load"] for r in result["rounds"])),
        ),
        Figure(
            "webhooks",
            "peer: the same endpoint with nobody listening (anymail alone)",
            peer["median"],
            "events/s",
            peer["min"],
            peer["max"],
            note=f"{_median(r['anymail alone']['cpu_us_per_event'] for r in result['rounds']):,.0f}"
            " CPU µs/event",
        ),
        Figure(
            "webhooks",
            "ratio Ladder ÷ anymail alone (median of the rounds)",
            ratio["median"],
            "x",
            ratio["min"],
            ratio["max"],
        ),
    ]


def _ab_report(result: dict[str, Any], full: bool) -> list[Figure]:
    return [
        Figure(
            "ab_report",
            f"ab_report {key}, {result['deliveries']:,} deliveries, "
            f"{result['events']:,} tracking events",
            max(timing.values()),
            "s",
            target=Target("<=", AB_REPORT_SECONDS, "#5"),
            applies=full,
            note=f"experiment_results {timing['experiment_results']} s, the command "
            f"{timing['ab_report']} s (best of the rounds)",
        )
        for key, timing in result["timings"].items()
    ]


def _sweep(result: dict[str, Any], full: bool) -> list[Figure]:
    return [
        Figure(
            "sweep",
            f"{name} stage sweep over {result['customers']:,} customers",
            result[name]["seconds"],
            "s",
            target=Target("<=", SWEEP_SECONDS, "#5"),
            applies=full,
            note=f"{result[name]['recomputed']:,} recomputed, {result[name]['moved']:,} moved",
        )
        for name in ("first", "nightly")
    ]


FIGURES = {
    "ingest": _ingest,
    "engine": _engine,
    "delivery": _delivery,
    "webhooks": _webhooks,
    "ab_report": _ab_report,
    "sweep": _sweep,
}


def figures(scenario: str, result: dict[str, Any], *, full: bool) -> list[Figure]:
    """The rows of one scenario's result; targets judged only when ``full``."""
    return FIGURES[scenario](result, full)


# --- Checks and memory, whatever shape each scenario reports them in ---------


def checks(scenario: str, result: dict[str, Any]) -> dict[str, bool]:
    """Every correctness check of a scenario, by name. A scenario that did not
    finish has one failed check, ``finished``; one whose process failed with
    every check passed (it should not) gets ``exited_cleanly``."""
    if "error" in result:
        return {"finished": False}
    if scenario == "engine":
        found = dict(result["advancing"]["checks"])
    elif scenario == "delivery":
        found = {
            f"round {number} {path}: {name}": ok
            for number, runs in enumerate(result["rounds"], 1)
            for path, run in runs.items()
            for name, ok in run["checks"].items()
        }
    else:
        found = dict(result.get("checks", {}))
    if result.get("exit_code", 0) != 0 and all(found.values()):
        found["exited_cleanly"] = False
    return found


def peaks(scenario: str, result: dict[str, Any]) -> dict[str, list[float | None]]:
    """Peak memory (MB) of each worker process, by role."""
    if "error" in result:
        return {}
    if scenario == "engine":
        return {"celery workers (advancing)": result["advancing"]["worker_peak_rss_mb"]}
    if scenario == "delivery":
        found: dict[str, list[float | None]] = {}
        for runs in result["rounds"]:
            for path, run in runs.items():
                found.setdefault(f"{path} workers", []).extend(run["peak_rss_mb"])
                for role, mb in (run.get("send_peak_rss_mb") or {}).items():
                    found.setdefault(f"{path} send_queued_mail {role}", []).append(mb)
        return found
    return {
        role: mb if isinstance(mb, list) else [mb]
        for role, mb in result.get("peak_memory_mb", {}).items()
    }


# --- The results file ----------------------------------------------------------


def report_build(
    *,
    results: dict[str, dict[str, Any]],
    full: dict[str, bool],
    run: dict[str, Any],
) -> dict[str, Any]:
    """Merge every scenario's result into the one results file: the raw results,
    and for each scenario its figures, checks and peak memory."""
    scenarios = {}
    for name, result in results.items():
        rows = [] if "error" in result else figures(name, result, full=full[name])
        found = checks(name, result)
        scenarios[name] = {
            "full_size": full[name],
            "passed": all(found.values()),
            "figures": [asdict(row) | {"met": row.met} for row in rows],
            "checks": found,
            "peak_memory_mb": peaks(name, result),
            "result": result,
        }
    return {
        **run,
        "passed": all(s["passed"] for s in scenarios.values()),
        "targets_missed": [
            f"{name}: {row['name']}"
            for name, s in scenarios.items()
            for row in s["figures"]
            if row["met"] is False
        ],
        "scenarios": scenarios,
    }


# --- What the docs show ---------------------------------------------------------


def latest_merge(
    latest: dict[str, Any], report: dict[str, Any], *, run_label: str
) -> tuple[dict[str, Any], list[str]]:
    """``latest`` (per scenario: the last full-size run's rows) with this run's
    full-size scenarios replacing theirs; and the names replaced. A scenario
    that failed or ran smaller than full size leaves its previous rows alone."""
    merged = {"scenarios": dict(latest.get("scenarios", {}))}
    replaced = []
    for name, scenario in report["scenarios"].items():
        if not (scenario["full_size"] and scenario["passed"]):
            continue
        merged["scenarios"][name] = {
            "run": run_label,
            "command": report["command"],
            "figures": scenario["figures"],
            "checks": f"{len(scenario['checks'])} passed",
            "peak_memory_mb": {
                role: _peak_range(mbs) for role, mbs in scenario["peak_memory_mb"].items()
            },
        }
        replaced.append(name)
    return merged, replaced


def _peak_range(mbs: list[float | None]) -> str:
    known = [mb for mb in mbs if mb is not None]
    if not known:
        return "n/a"
    low, high = min(known), max(known)
    return f"{low:.0f}" if round(low) == round(high) else f"{low:.0f}-{high:.0f}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def docs_section(latest: dict[str, Any]) -> str:
    """The generated part of docs/performance.md: one table of figures, one of runs."""
    scenarios = latest.get("scenarios", {})
    lines = [
        "| scenario | figure | measured | target (issue) | notes |",
        "|---|---|---:|---|---|",
    ]
    for name in SCENARIOS:
        if name not in scenarios:
            lines.append(f"| {name} | not measured at full size yet | | | |")
            continue
        for row in scenarios[name]["figures"]:
            figure = figure_from(row)
            cells = (name, figure.name, measured_text(figure), verdict_text(figure), figure.note)
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    if not scenarios:
        return "\n".join(lines)
    lines += [
        "",
        "| scenario | run | checks | peak memory per process (MB) | reproduce |",
        "|---|---|---|---|---|",
    ]
    for name in SCENARIOS:
        if name in scenarios:
            s = scenarios[name]
            memory = "; ".join(f"{role} {mb}" for role, mb in s["peak_memory_mb"].items())
            cells = (name, s["run"], s["checks"], memory, f"`{s['command']}`")
            lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def docs_rewrite(text: str, section: str) -> str:
    """``text`` with what lies between the markers replaced by ``section``.
    Raises DocsMarkersMissing rather than guess where the table goes."""
    begin, end = text.find(DOCS_BEGIN), text.find(DOCS_END)
    if begin < 0 or end < 0 or end < begin:
        raise DocsMarkersMissing(
            f"docs/performance.md must contain the lines {DOCS_BEGIN!r} and then {DOCS_END!r}"
        )
    if text.count(DOCS_BEGIN) > 1 or text.count(DOCS_END) > 1:
        raise DocsMarkersMissing("docs/performance.md has the bench:results markers twice")
    head = text[: begin + len(DOCS_BEGIN)]
    return f"{head}\n{section}\n{text[end:]}"


def summary_lines(report: dict[str, Any]) -> list[str]:
    """The end of a run's output: every figure with its verdict, then what failed."""
    lines = []
    for name, scenario in report["scenarios"].items():
        size = "full size" if scenario["full_size"] else "smaller than full size"
        lines.append(f"{name} ({size}):")
        if "error" in scenario["result"]:
            lines.append(f"  FAILED to finish: {scenario['result']['error'].splitlines()[-1:]}")
        for row in scenario["figures"]:
            figure = figure_from(row)
            verdict = verdict_text(figure).replace("**", "")
            lines.append(f"  {figure.name}: {measured_text(figure)}  [{verdict}]")
        failed = [check for check, ok in scenario["checks"].items() if not ok]
        lines.append(
            f"  checks: {'FAILED ' + ', '.join(failed) if failed else 'all passed'}"
            f" ({len(scenario['checks'])})"
        )
    return lines
