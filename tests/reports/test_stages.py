"""The ladder report on the fixed March history (tests/customers/lifecycle/history.py)."""

import csv
import io
import json
from datetime import UTC, datetime

import pytest
import time_machine
from selectolax.lexbor import LexborHTMLParser

from customers.models import Customer
from tests.customers.lifecycle.history import march_history, noon

PERIOD = "start=2026-03-02&end=2026-03-29&bucket=week"


@pytest.fixture
def history(db):
    customers = march_history()
    for name, at in {"ann": noon(2, 1), "bob": noon(3, 10), "cat": noon(3, 24)}.items():
        Customer.objects.filter(pk=customers[name].pk).update(lapsed_at=at)
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        yield customers


def download(client, path: str) -> list[list[str]]:
    response = client.get(f"/admin/reports/stages/{path}?{PERIOD}")
    assert response.status_code == 200
    assert response["Content-Disposition"] == f'attachment; filename="stages-{path}"'
    return list(csv.reader(io.StringIO(response.content.decode())))


def test_counts_per_stage_at_the_end_of_each_week(admin_client, history):
    assert download(admin_client, "counts.csv") == [
        ["bucket", "suspect", "prospect", "customer", "repeat", "loyal", "advocate"],
        ["2026-03-02", "0", "3", "0", "0", "0", "0"],
        ["2026-03-09", "0", "1", "2", "0", "0", "0"],
        ["2026-03-16", "1", "1", "1", "1", "0", "0"],
        ["2026-03-23", "1", "1", "1", "1", "0", "0"],
    ]


def test_moves_between_stages_in_ladder_order(admin_client, history):
    assert download(admin_client, "transitions.csv") == [
        ["from_stage", "to_stage", "customers"],
        ["(new)", "suspect", "2"],
        ["suspect", "prospect", "2"],
        ["prospect", "customer", "2"],
        ["customer", "repeat", "1"],
    ]


def test_time_in_stage_with_medians_and_bands(admin_client, history):
    rows = download(admin_client, "time_in_stage.csv")
    assert rows[0] == [
        "stage", "ended", "median_days", "under 1 day", "1-7 days", "7-30 days", "30-90 days",
        "90-365 days", "365+ days", "ongoing", "ongoing_median_days",
    ]  # fmt: skip
    by_stage = {row[0]: row[1:] for row in rows[1:]}
    assert by_stage["suspect"] == ["2", "6.0", "0", "1", "1", "0", "0", "0", "1", "12.5"]
    assert by_stage["prospect"] == ["2", "10.5", "0", "0", "2", "0", "0", "0", "1", "24.5"]
    assert by_stage["repeat"] == ["0", "", "0", "0", "0", "0", "0", "0", "1", "7.5"]


def test_lapsed_by_week(admin_client, history):
    assert download(admin_client, "lapsed.csv") == [
        ["bucket", "newly_lapsed", "lapsed"],
        ["2026-03-02", "0", "1"],
        ["2026-03-09", "1", "2"],
        ["2026-03-16", "0", "2"],
        ["2026-03-23", "1", "3"],
    ]


def test_the_json_has_every_table(admin_client, history):
    response = admin_client.get(f"/admin/reports/stages/report.json?{PERIOD}")
    report = json.loads(response.content)
    assert set(report) == {"period", "counts", "transitions", "time_in_stage", "lapsed"}
    assert report["period"] == {"start": "2026-03-02", "end": "2026-03-29", "bucket": "week"}
    assert report["counts"][1] == {
        "bucket": "2026-03-09",
        "suspect": 0,
        "prospect": 1,
        "customer": 2,
        "repeat": 0,
        "loyal": 0,
        "advocate": 0,
    }
    assert report["transitions"][0] == {"from": None, "to": "suspect", "customers": 2}
    assert report["time_in_stage"]["prospect"] == {
        "ended": 2,
        "median_days": 10.5,
        "distribution": {
            "under 1 day": 0,
            "1-7 days": 0,
            "7-30 days": 2,
            "30-90 days": 0,
            "90-365 days": 0,
            "365+ days": 0,
        },
        "ongoing": 1,
        "ongoing_median_days": 24.5,
    }
    assert report["lapsed"]["now"]["repeat"] == {"customers": 1, "lapsed": 1}
    assert report["lapsed"]["buckets"][-1] == {
        "bucket": "2026-03-23",
        "newly_lapsed": 1,
        "lapsed": 3,
    }


def test_the_page_shows_the_tables_and_four_charts(admin_client, history):
    response = admin_client.get(f"/admin/reports/stages/?{PERIOD}")
    tree = LexborHTMLParser(response.content.decode())
    assert len(tree.css(".report svg")) == 4
    tables = tree.css(".report table")
    weeks = [[c.text() for c in row.css("td")] for row in tables[0].css("tbody tr")]
    assert weeks[1] == ["2026-03-09", "0", "1", "2", "0", "0", "0"]
    moves = [[c.text() for c in row.css("td")] for row in tables[1].css("tbody tr")]
    assert moves[0] == ["(new)", "Suspect", "2"]
    assert (
        'href="/admin/reports/stages/transitions.csv?start=2026-03-02' in response.content.decode()
    )


def test_with_no_period_it_shows_the_last_twelve_weeks(admin_client, history):
    tree = LexborHTMLParser(admin_client.get("/admin/reports/stages/").content.decode())
    assert "From 2026-03-10 to 2026-06-01 (UTC, both days included), by week." in tree.text()
