"""What a run concludes from its scenarios' results: merged into one file,
judged against the issues' targets, and written into docs/performance.md."""

import json
from pathlib import Path

import pytest

from bench import report
from bench.report import (
    DOCS_BEGIN,
    DOCS_END,
    DocsMarkersMissing,
    Figure,
    Target,
    docs_rewrite,
    docs_section,
    latest_merge,
    report_build,
    verdict_text,
)
from tests.bench import samples

RUN = {"command": "python -m bench", "started_at": "2026-12-03T10:00:00+00:00"}
FULL = dict.fromkeys(report.SCENARIOS, True)


def _build(results, full=FULL):
    return report_build(results=results, full=full, run=RUN)


def _row(built, scenario, starts):
    [row] = [r for r in built["scenarios"][scenario]["figures"] if r["name"].startswith(starts)]
    return row


# --- Verdicts ------------------------------------------------------------------


def test_a_met_target_says_so_with_its_issue():
    figure = Figure("x", "rate", 5_900, "msg/s", target=Target(">=", 5_000, "#4"))
    assert verdict_text(figure) == "≥ 5,000 msg/s (#4): met"


def test_a_missed_rate_says_by_how_much_and_what_share():
    figure = Figure("x", "rate", 4_200, "msg/s", target=Target(">=", 5_000, "#4"))
    assert verdict_text(figure) == "≥ 5,000 msg/s (#4): **missed by 800 msg/s (16%)**"


def test_a_missed_time_says_by_how_many_seconds():
    figure = Figure("x", "time", 21.5, "s", target=Target("<=", 20, "#3"))
    assert verdict_text(figure) == "≤ 20.00 s (#3): **missed by 1.50 s (8%)**"


def test_a_target_is_not_judged_on_a_smaller_run():
    figure = Figure("x", "time", 99, "s", target=Target("<=", 20, "#3"), applies=False)
    assert figure.met is None
    assert verdict_text(figure) == "≤ 20.00 s (#3): applies at full size"


def test_a_range_is_shown_when_rounds_differed():
    figure = Figure("x", "ratio", 9.2, "x", low=8.9, high=9.5)
    assert report.measured_text(figure) == "9.20x (min-max 8.90-9.50)"


# --- Merging the scenarios into one results file ---------------------------------


def test_it_merges_every_scenario_with_figures_peers_ratios_checks_and_memory():
    built = _build(samples.every())
    assert list(built["scenarios"]) == list(report.SCENARIOS)
    assert built["passed"] is True
    assert built["command"] == "python -m bench"
    delivery = built["scenarios"]["delivery"]
    assert _row(built, "delivery", "ratio batch ÷ naive")["value"] == 73.8
    assert _row(built, "delivery", "peer: naive")["value"] == 80
    # The machine's speed beside the ceiling: the median plain-Jinja2 render.
    assert _row(built, "delivery", "ceiling")["note"] == (
        "batch sends 57% of it per core; plain Jinja2 renders the body in 155 µs"
    )
    assert _row(built, "webhooks", "ratio Ladder ÷ anymail alone")["value"] == 0.085
    assert _row(built, "webhooks", "peer: the same endpoint")["value"] == 1_000.0
    # Peak memory of every worker process of every round, by role.
    assert delivery["peak_memory_mb"]["batch workers"] == [140.0, 141.0, 139.0, 150.0]
    assert delivery["peak_memory_mb"]["post-office send_queued_mail parent"] == [113.0]
    assert built["scenarios"]["engine"]["peak_memory_mb"] == {
        "celery workers (advancing)": [107.0, 108.5]
    }
    assert built["scenarios"]["ingest"]["peak_memory_mb"]["client"] == [92.5]
    assert "round 2 embedded: no_duplicate_delivery" in delivery["checks"]
    assert delivery["result"]["config"]["rounds"] == 2


def test_missed_targets_are_listed_but_do_not_fail_the_run():
    built = _build(samples.every())
    assert built["targets_missed"] == [
        "engine: advancing 100,000 due enrollments",
        "delivery: ratio batch ÷ post-office (median of the rounds)",
    ]
    assert built["passed"] is True


def test_a_failed_check_fails_the_run():
    built = _build({"engine": samples.engine(failed="split_within_2_percent")}, FULL)
    assert built["passed"] is False
    assert built["scenarios"]["engine"]["checks"]["split_within_2_percent"] is False


def test_a_process_that_failed_with_every_check_passed_still_fails():
    built = _build({"sweep": samples.sweep() | {"exit_code": 1}})
    assert built["scenarios"]["sweep"]["checks"]["exited_cleanly"] is False
    assert built["passed"] is False


def test_a_scenario_that_did_not_finish_fails_the_run_and_hides_no_other():
    results = samples.every() | {"delivery": {"error": "exited with 1 before printing its result"}}
    built = _build(results)
    assert built["passed"] is False
    assert built["scenarios"]["delivery"]["checks"] == {"finished": False}
    assert built["scenarios"]["delivery"]["figures"] == []
    assert built["scenarios"]["sweep"]["passed"] is True
    assert any("FAILED to finish" in line for line in report.summary_lines(built))


def test_targets_are_not_judged_for_scenarios_smaller_than_full_size():
    built = _build(samples.every(), dict.fromkeys(report.SCENARIOS, False))
    assert built["targets_missed"] == []
    assert all(row["met"] is None for s in built["scenarios"].values() for row in s["figures"])


# --- What the docs keep ----------------------------------------------------------


def test_latest_keeps_the_last_full_size_run_of_each_scenario():
    first = _build(samples.every())
    latest, replaced = latest_merge({}, first, run_label="2026-12-03, abc")
    assert replaced == list(report.SCENARIOS)

    again = _build(
        {"ingest": samples.ingest(9_000), "sweep": samples.sweep()}, FULL | {"sweep": False}
    )
    latest, replaced = latest_merge(latest, again, run_label="2026-12-04, def")
    assert replaced == ["ingest"]
    assert latest["scenarios"]["ingest"]["run"] == "2026-12-04, def"
    assert latest["scenarios"]["ingest"]["figures"][0]["value"] == 9_000
    # The smaller sweep and the scenarios that did not run keep their rows.
    assert latest["scenarios"]["sweep"]["run"] == "2026-12-03, abc"
    assert latest["scenarios"]["engine"]["run"] == "2026-12-03, abc"


def test_a_failed_scenario_never_replaces_good_figures():
    latest, _ = latest_merge({}, _build(samples.every()), run_label="good")
    failed = _build({"engine": samples.engine(failed="split_within_2_percent")})
    latest, replaced = latest_merge(latest, failed, run_label="bad")
    assert replaced == []
    assert latest["scenarios"]["engine"]["run"] == "good"


def test_the_docs_table_shows_every_figure_its_verdict_and_each_runs_memory():
    latest, _ = latest_merge({}, _build(samples.every()), run_label="2026-12-03, abc, 2 CPUs")
    section = docs_section(latest)
    assert "| engine | advancing 100,000 due enrollments | 21.50 s |" in section
    assert "≤ 20.00 s (#3): **missed by 1.50 s (8%)**" in section
    assert (
        "| delivery | ratio batch ÷ naive (median of the rounds) | 73.8x (min-max 70.0-75.0) |"
        in section
    )
    assert "gunicorn workers (ladder) 99; gunicorn workers (anymail alone) 89" in section
    # A rate measured while others used the machine says so.
    assert "22,000 CPU µs/event; other load 60% |" in section
    assert "| sweep | 2026-12-03, abc, 2 CPUs | 1 passed |" in section


def test_the_docs_table_says_which_scenarios_were_never_measured_at_full_size():
    latest, _ = latest_merge({}, _build({"webhooks": samples.webhooks()}), run_label="r")
    section = docs_section(latest)
    assert "| ingest | not measured at full size yet | | | |" in section
    assert "| webhooks | Postmark tracking events" in section


def test_a_pipe_in_a_figure_cannot_break_the_table():
    latest, _ = latest_merge({}, _build({"ingest": samples.ingest()}), run_label="a | b")
    assert "a \\| b" in docs_section(latest)


# --- Rewriting the docs ---------------------------------------------------------


PAGE = f"# Performance\n\nIntro.\n\n{DOCS_BEGIN}\nold table\n{DOCS_END}\n\n## After\n"


def test_it_rewrites_only_what_lies_between_the_markers():
    text = docs_rewrite(PAGE, "| new | table |")
    assert (
        text
        == f"# Performance\n\nIntro.\n\n{DOCS_BEGIN}\n| new | table |\n{DOCS_END}\n\n## After\n"
    )
    assert docs_rewrite(text, "| new | table |") == text


@pytest.mark.parametrize(
    "page",
    [
        "# Performance\n\nno markers\n",
        f"{DOCS_END}\n{DOCS_BEGIN}\n",
        f"{DOCS_BEGIN}\nonly the first\n",
        f"{DOCS_BEGIN}\n{DOCS_END}\n{DOCS_BEGIN}\n{DOCS_END}\n",
    ],
)
def test_it_refuses_to_guess_where_the_table_goes(page):
    with pytest.raises(DocsMarkersMissing, match="bench:results"):
        docs_rewrite(page, "table")


def test_docs_performance_has_the_markers_once_and_matches_bench_latest():
    root = Path(__file__).resolve().parents[2]
    page = (root / "docs" / "performance.md").read_text()
    latest = root / "bench" / "latest.json"
    merged = json.loads(latest.read_text()) if latest.exists() else {}
    assert docs_rewrite(page, docs_section(merged)) == page
