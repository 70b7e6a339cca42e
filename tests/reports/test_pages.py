"""The report pages in the admin: who may see them, and that they show what
``ab_report`` and the analysis functions compute."""

import csv
import io
import json
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from selectolax.lexbor import LexborHTMLParser

from campaigns.analysis.experiments import journey_experiments
from campaigns.analysis.results import experiment_results
from campaigns.models import Variant
from journeys.models import Journey, StepCount
from journeys.services import journey_save
from tests.journeys.documents import welcome
from tests.reports.conftest import COUNTS, allow

#: Every report URL with the permission it needs (the fixture ``journey`` makes them exist).
URLS = {
    "/admin/reports/": None,
    "/admin/reports/journeys/welcome/": "view_journey",
    "/admin/reports/journeys/welcome/funnel.csv": "view_journey",
    "/admin/reports/journeys/welcome/report.json": "view_journey",
    "/admin/reports/experiments/journey:welcome:nudge/": "view_journey",
    "/admin/reports/experiments/journey:welcome:nudge/results.csv": "view_journey",
    "/admin/reports/experiments/message:welcome-1/": "view_message",
    "/admin/reports/experiments/message:welcome-1/results.json": "view_message",
    "/admin/reports/stages/": "view_customer",
    "/admin/reports/stages/counts.csv": "view_customer",
    "/admin/reports/stages/report.json": "view_customer",
}


def ab_report(*args) -> str:
    out = io.StringIO()
    call_command("ab_report", *args, stdout=out)
    return out.getvalue()


def page(client, url: str) -> LexborHTMLParser:
    response = client.get(url)
    assert response.status_code == 200, response.content[:2000]
    return LexborHTMLParser(response.content.decode())


def cells(row) -> list[str]:
    return [" ".join(cell.text().split()) for cell in row.css("td")]


@pytest.mark.parametrize("url", URLS)
def test_it_sends_anyone_not_signed_in_as_staff_to_the_login(client, django_user_model, url):
    response = client.get(url)
    assert (response.status_code, response["Location"].split("?")[0]) == (302, "/admin/login/")
    client.force_login(django_user_model.objects.create_user("customer", password="x"))
    assert client.get(url).status_code == 302


def test_it_renders_every_report_for_a_superuser(admin_client, journey):
    for url in URLS:
        assert admin_client.get(url).status_code == 200, url


def test_staff_need_permission_to_view_what_a_report_is_about(client, staff, journey):
    client.force_login(staff)
    for url, permission in URLS.items():
        assert client.get(url).status_code == (403 if permission else 200), url
    assert "no report you are allowed to see" in client.get("/admin/reports/").content.decode()

    allow(staff, "view_journey")
    for url, permission in URLS.items():
        allowed = permission in (None, "view_journey")
        assert client.get(url).status_code == (200 if allowed else 403), url
    index = client.get("/admin/reports/").content.decode()
    assert "journey:welcome:nudge" in index and "message:welcome-1" not in index


def test_the_admin_links_to_the_reports(admin_client, journey):
    home = admin_client.get("/admin/").content.decode()
    assert 'href="/admin/reports/"' in home and 'href="/admin/reports/stages/"' in home
    listed = admin_client.get("/admin/journeys/journey/").content.decode()
    assert 'href="/admin/reports/journeys/welcome/"' in listed
    change = admin_client.get(f"/admin/journeys/journey/{journey.pk}/change/").content.decode()
    assert 'href="/admin/reports/experiments/journey:welcome:nudge/"' in change
    message = Variant.objects.get(message__key="welcome-1", key="A").message
    change = admin_client.get(f"/admin/campaigns/message/{message.pk}/change/").content.decode()
    assert 'href="/admin/reports/experiments/message:welcome-1/"' in change


def text_tables(text: str) -> dict[str, list[list[str]]]:
    """ab_report's text: metric -> its table's rows, each cut into cells."""
    tables, current = {}, None
    for line in text.splitlines():
        heading = re.match(r"(\w+) \(per ", line)
        if heading:
            current = tables.setdefault(heading.group(1), [])
        elif current is not None and line and not line.startswith("arm "):
            current.append(re.split(r" {2,}", line.strip()))
        elif not line:
            current = None
    return tables


@pytest.mark.parametrize("metric", ["conversions", "clicks"])
def test_the_journey_page_shows_the_figures_ab_report_prints(admin_client, journey, metric):
    tree = page(admin_client, f"/admin/reports/journeys/welcome/?metric={metric}")
    sections = {node.css_first("h3 span").text(): node for node in tree.css("div.experiment")}
    keys = [e.key for e in journey_experiments(Journey.objects.get(key="welcome"))]
    assert keys == ["journey:welcome:nudge", "message:welcome-1", "message:welcome-2"]
    assert list(sections) == keys
    for key, section in sections.items():
        text = ab_report(key, "--metric", metric)
        arms_table, metric_table = section.css("table")
        # The arms: name, weight, units, sent, conversions, revenue — as the text's table.
        text_arms = [re.split(r" {2,}", line.strip()) for line in text.splitlines()[3:]]
        for row in arms_table.css("tbody tr"):
            assert cells(row)[:6] in text_arms
        # Every metric of every arm: the text's row, cell for cell.
        for row in metric_table.css("tbody tr"):
            name, arm, count, _total, *figures = cells(row)
            assert [arm, count, *figures] in text_tables(text)[name]
        decision = re.search(r"^decision: (.*) \((.*)\)$", text, re.M)
        shown = " ".join(section.css_first("p strong").parent.text().split())
        assert decision.group(2) in shown
        # The rate chart is of the metric decided on.
        assert len(section.css("svg")) == 2
        assert f"{experiment_results(key).title}: {metric}</text>" in section.html


def test_the_funnel_shows_each_steps_counters_and_where_enrollments_are(admin_client, journey):
    tree = page(admin_client, "/admin/reports/journeys/welcome/")
    rows = {cells(row)[0]: cells(row) for row in tree.css("h2 + p + svg + table tbody tr")}
    assert rows["hello"] == [
        "hello", "send_email", "24", "100%", "sent 24, deferred:quiet_hours 3", "0", ""
    ]  # fmt: skip
    assert rows["nudge"][:5] == ["nudge", "split", "24", "100%", "discount 12, story 12"]
    assert rows["done"][2:] == ["24", "100%", "exit 24", "0", "completed 24"]
    summary = " ".join(tree.css_first("h2 + p").text().split())
    assert summary.startswith(
        "24 enrollments entered; 0 are still in the journey; 8 reached its goal."
    )
    assert tree.css("h2 + p + svg")


def test_the_funnel_csv_has_a_row_per_figure(admin_client, journey):
    response = admin_client.get("/admin/reports/journeys/welcome/funnel.csv")
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="journey-welcome-funnel.csv"'
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == ["journey", "version", "position", "step", "type", "measure", "name", "count"]
    assert rows[1:4] == [
        ["welcome", "", "", "", "", "entered", "", "24"],
        ["welcome", "", "", "", "", "converted", "", "8"],
        ["welcome", "", "", "", "", "active", "", "0"],
    ]
    hello = [row[5:] for row in rows if row[3] == "hello"]
    assert hello == [
        ["passed", "", "24"],
        ["outcome", "sent", "24"],
        ["outcome", "deferred:quiet_hours", "3"],
        ["waiting", "", "0"],
    ]
    passed = {row[3]: int(row[7]) for row in rows[4:] if row[5] == "passed"}
    expected = {step: 0 for step in passed}
    for (step, outcome), count in COUNTS.items():
        expected[step] += 0 if outcome.startswith("deferred:") else count
    assert passed == expected


def test_the_journey_json_holds_the_funnel_and_each_experiment_as_ab_report_does(
    admin_client, journey
):
    response = admin_client.get("/admin/reports/journeys/welcome/report.json?metric=clicks")
    assert response["Content-Type"] == "application/json"
    report = json.loads(response.content)
    assert set(report) == {
        "key", "name", "status", "live_version", "versions", "funnel", "experiments", "metric"
    }  # fmt: skip
    assert (report["key"], report["live_version"], report["metric"]) == ("welcome", 1, "clicks")
    funnel = report["funnel"]
    assert (funnel["entered"], funnel["converted"], funnel["exits"]) == (24, 8, {"completed": 24})
    assert funnel["steps"][0] == {
        "key": "hello",
        "type": "send_email",
        "passed": 24,
        "outcomes": {"sent": 24, "deferred:quiet_hours": 3},
        "waiting": 0,
        "ended": {},
    }
    for experiment in report["experiments"]:
        assert experiment == json.loads(
            ab_report(experiment["key"], "--format", "json", "--metric", "clicks")
        )


@pytest.mark.parametrize("output", ["csv", "json"])
@pytest.mark.parametrize("key", ["journey:welcome:nudge", "message:welcome-1"])
def test_an_experiments_downloads_are_ab_reports_own(admin_client, journey, key, output):
    url = f"/admin/reports/experiments/{key}/results.{output}?metric=opens&control=B"
    if key.startswith("journey"):
        url = url.replace("control=B", "control=story")
    response = admin_client.get(url)
    control = "story" if key.startswith("journey") else "B"
    expected = ab_report(key, "--format", output, "--metric", "opens", "--control", control)
    assert response.content.decode() == expected
    assert f'filename="ab-{key.replace(":", "-")}.{output}"' in response["Content-Disposition"]


def test_an_experiment_page_has_its_table_and_charts(admin_client, journey):
    tree = page(admin_client, "/admin/reports/experiments/message:welcome-1/?metric=opens")
    (section,) = tree.css("div.experiment")
    assert "Decision on opens:" in section.text()
    assert len(section.css("svg")) == 2
    assert [cells(row)[0] for row in section.css("table")[0].css("tbody tr")] == [
        "A (control)",
        "B",
    ]


def test_a_version_shows_its_own_counters(admin_client, journey):
    # Version 2 drops the split; version 1's steps still show, after v2's.
    document = welcome()
    document["steps"]["bought"]["else"] = "done"
    for step in ("nudge", "offer", "story"):
        del document["steps"][step]
    version = journey_save(document=document)
    StepCount.objects.create(version=version, step="hello", outcome="sent", count=5)
    tree = page(admin_client, "/admin/reports/journeys/welcome/?version=2")
    rows = {cells(row)[0]: cells(row) for row in tree.css("h2 + p + svg + table tbody tr")}
    assert list(rows) == ["hello", "pause", "bought", "done"]
    assert rows["hello"][2:4] == ["5", "n/a"]  # nobody entered version 2 yet
    every = page(admin_client, "/admin/reports/journeys/welcome/")
    rows = {cells(row)[0]: cells(row) for row in every.css("h2 + p + svg + table tbody tr")}
    assert rows["hello"][2] == "29"
    assert list(rows) == ["hello", "pause", "bought", "done", "nudge", "offer", "story"]


@pytest.mark.parametrize(
    ("url", "status", "says"),
    [
        ("/admin/reports/journeys/welcome/?metric=likes", 400, "unknown metric &#x27;likes&#x27;"),
        ("/admin/reports/journeys/welcome/?version=two", 400, "version must be a version number"),
        ("/admin/reports/journeys/welcome/?version=9", 400, "has no version 9"),
        ("/admin/reports/journeys/nope/", 404, ""),
        ("/admin/reports/experiments/message:nope/", 404, ""),
        ("/admin/reports/experiments/nope/", 404, ""),
        ("/admin/reports/experiments/message:welcome-1/?control=C", 400, "has no arm"),
        (
            "/admin/reports/stages/?start=2026-03-10&end=2026-03-01",
            400,
            "starts (2026-03-10) after",
        ),
        ("/admin/reports/stages/?start=2020-01-01&end=2026-01-01&bucket=day", 400, "more than 400"),
        ("/admin/reports/stages/?start=yesterday", 400, "start: Enter a valid date."),
        ("/admin/reports/stages/?bucket=year", 400, "bucket: Select a valid choice."),
        ("/admin/reports/stages/moves.csv", 404, ""),
    ],
)
def test_a_report_that_cannot_be_made_says_why(admin_client, journey, url, status, says):
    response = admin_client.get(url)
    assert response.status_code == status
    assert says in response.content.decode()


@pytest.mark.parametrize("name", ["=HYPERLINK(1)", "+1", "-1", "@SUM(A1)"])
def test_funnel_csv_cells_cannot_become_formulas(admin_client, journey, name):
    StepCount.objects.create(version=journey.live_version, step="nudge", outcome=name, count=1)
    response = admin_client.get(reverse("reports:journey-csv", args=["welcome"]))
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert ["outcome", "'" + name, "1"] in [row[5:] for row in rows]


def test_experiment_csv_cells_cannot_become_formulas(admin_client, journey):
    Variant.objects.filter(message__key="welcome-1", key="B").update(key="=HYPERLINK(1)")
    response = admin_client.get("/admin/reports/experiments/message:welcome-1/results.csv")
    arms = {row["arm"] for row in csv.DictReader(io.StringIO(response.content.decode()))}
    assert arms == {"A", "'=HYPERLINK(1)"}
