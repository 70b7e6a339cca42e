"""``manage.py ab_report``: text, JSON and CSV, the list, and clear errors."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command

from campaigns.models import Variant
from tests.campaigns.analysis.helpers import convert, deliveries
from tests.journeys.documents import welcome
from tests.journeys.helpers import live


def ab_report(*args) -> str:
    out = io.StringIO()
    call_command("ab_report", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def clicked(messages):
    deliveries("m", "A", 50, opened=20, clicked=5)
    b = deliveries("m", "B", 50, opened=25, clicked=10)
    convert(b[0], Decimal("12.00"), "EUR")


def test_it_lists_experiments(messages):
    live(welcome())
    lines = ab_report("--list").splitlines()
    assert "message:m\tm\tA, B" in lines
    assert "journey:welcome:nudge\tWelcome series, step nudge\tdiscount, story" in lines


def test_text_shows_every_arm_metric_and_the_decision(clicked):
    text = ab_report("message:m", "--metric", "clicks")
    assert text.startswith("message:m: m\n")
    assert "A (control)" in text
    assert "clicks (per email sent)" in text
    assert "conversions (per email sent)" in text
    assert "12.00 EUR" in text
    assert "sample ratio: chi-square 0, p 1: ok" in text
    assert "decision: not enough data (under 1,000 units: A (50), B (50))" in text


def test_json_has_the_whole_result(clicked):
    result = json.loads(ab_report("message:m", "--format", "json"))
    assert result["key"] == "message:m"
    control, b = result["arms"]
    assert (control["name"], control["is_control"], b["name"]) == ("A", True, "B")
    assert b["metrics"]["clicks"]["count"] == 10
    assert b["metrics"]["clicks"]["lift"] == pytest.approx(1.0)
    assert b["revenue"] == {"EUR": "12.00"}
    assert result["decision"]["status"] == "not_enough_data"


def test_csv_has_a_row_per_arm_and_metric_and_per_currency(clicked):
    rows = list(csv.DictReader(io.StringIO(ab_report("message:m", "--format", "csv"))))
    assert len(rows) == 2 * 6 + 1
    clicks = next(r for r in rows if r["arm"] == "B" and r["metric"] == "clicks")
    assert (clicks["count"], clicks["total"], float(clicks["rate"])) == ("10", "50", 0.2)
    revenue = next(r for r in rows if r["metric"] == "revenue")
    assert (revenue["arm"], revenue["currency"], revenue["value"]) == ("B", "EUR", "12.00")


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1", "-1", "@SUM(A1)", "\tx", "\rx"])
def test_csv_cells_cannot_become_formulas(messages, name):
    Variant.objects.filter(message__key="m", key="B").update(key=name)
    deliveries("m", name, 3)
    rows = list(csv.DictReader(io.StringIO(ab_report("message:m", "--format", "csv"))))
    assert {row["arm"] for row in rows} == {"A", "'" + name}


def test_another_control_and_metric(clicked):
    text = ab_report("message:m", "--control", "B", "--metric", "opens", "--min-sample", "10")
    assert "control: B; decided on opens (alpha 0.05, at least 10 per arm)" in text


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (["message:nope"], "there is no message 'nope'"),
        (["welcome"], "'welcome' is not an experiment"),
        (["message:m", "--control", "Z"], "message:m has no arm 'Z'"),
        (["message:m", "--alpha", "5"], "--alpha must be between 0 and 1"),
        ([], "name an experiment, or use --list"),
    ],
)
def test_it_says_clearly_what_is_wrong(messages, args, error):
    with pytest.raises(CommandError, match=error):
        ab_report(*args)
