"""Charts are SVG drawn by matplotlib from plain values, safe to put inline."""

import re
import xml.etree.ElementTree as ET
from datetime import date, timedelta

import matplotlib
import pytest

from reports import charts

SVG = "{http://www.w3.org/2000/svg}"
WEEKS = [date(2026, 3, 2) + timedelta(weeks=n) for n in range(4)]

#: One call of every chart kind, with small plain inputs.
ALL = {
    "funnel": lambda: charts.funnel([("entered", 100), ("hello", 90)], title="Funnel"),
    "intervals": lambda: charts.intervals(
        [charts.Interval("A", 0.30, 0.25, 0.35, highlight=True),
         charts.Interval("B", 0.4, 0.35, 0.45)],
        title="Opens", axis="opened per email sent",
    ),
    "stacked": lambda: charts.stacked(
        WEEKS, {"Suspect": [3, 2, 2, 1], "Prospect": [1, 2, 2, 3]},
        title="Stages", axis="customers",
    ),
    "lines": lambda: charts.lines(
        WEEKS, {"lapsed": [0, 1, 1, 2]}, title="Lapsed", axis="customers"
    ),
    "matrix": lambda: charts.matrix(
        ["(new)", "Suspect"], ["Suspect", "Prospect"], [[2, 0], [0, 2]],
        title="Moves", row_axis="from", column_axis="to",
    ),
    "grouped_bars": lambda: charts.grouped_bars(
        ["under 1 day", "1-7 days"], {"Suspect": [1, 1], "Prospect": [0, 2]},
        title="Stays", axis="stays",
    ),
}  # fmt: skip


def texts(svg: str) -> list[str]:
    return [node.text for node in ET.fromstring(svg).iter(f"{SVG}text") if node.text]


@pytest.mark.parametrize("kind", ALL)
def test_every_chart_is_an_svg_element_written_by_matplotlib(kind):
    svg = ALL[kind]()
    root = ET.fromstring(svg)  # well-formed XML, nothing before the element
    assert root.tag == f"{SVG}svg"
    creator = root.find(".//{http://purl.org/dc/elements/1.1/}creator/*/*")
    assert creator.text.startswith(f"Matplotlib v{matplotlib.__version__}")
    # Drawn, not an empty frame: matplotlib's own groups of marks are there.
    assert len(root.findall(f".//{SVG}g")) > 10


def test_labels_and_numbers_are_text_in_the_svg():
    svg = charts.funnel([("entered", 1000), ("hello", 990), ("nudge", 500)], title="Funnel")
    shown = texts(svg)
    assert {"Funnel", "entered", "hello", "nudge"} <= set(shown)
    assert " 500 (50%)" in shown and " 1,000 (100%)" in shown


def test_an_interval_chart_shows_each_arm_on_a_percent_axis():
    svg = ALL["intervals"]()
    shown = texts(svg)
    assert {"A", "B", "opened per email sent"} <= set(shown)
    assert any(label.endswith("%") for label in shown)


def referenced(svg: str) -> set[str]:
    """Ids the drawing points at (clip paths): two charts on a page must not share one."""
    return set(re.findall(r'url\(#([^)]+)\)|href="#([^"]+)"', svg)) - {("", "")}


def test_the_same_chart_is_the_same_text_and_two_charts_point_at_no_common_id():
    first, again = ALL["funnel"](), ALL["funnel"]()
    assert first == again
    other = charts.funnel([("entered", 100), ("hello", 90)], title="Another funnel")
    assert referenced(first)
    assert referenced(first).isdisjoint(referenced(other))


def test_labels_are_escaped_and_never_read_as_math():
    svg = charts.intervals(
        [charts.Interval("<script>alert(1)</script>", 0.1, 0.05, 0.15),
         charts.Interval("$5 off & $10 off", 0.2, 0.1, 0.3)],
        title="Offers", axis="rate",
    )  # fmt: skip
    assert "<script>" not in svg
    assert {"<script>alert(1)</script>", "$5 off & $10 off"} <= set(texts(svg))


def test_a_funnel_nobody_entered_still_shows_its_counts():
    shown = texts(charts.funnel([("entered", 0), ("hello", 5)], title="Funnel"))
    assert " 5" in shown and "no data yet" not in shown


def test_no_data_says_so():
    assert "no data yet" in texts(charts.funnel([], title="Funnel"))
    assert "no data yet" in texts(charts.stacked([], {}, title="Stages", axis="customers"))
    assert "no data yet" in texts(charts.intervals([], title="Opens", axis="rate"))
