"""``python manage.py demo`` at a small size: real emails, real clicks, real results."""

import os
import re
import shlex
import subprocess
import sys
from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from campaigns.models import Delivery, DeliveryClick
from customers.models import ConsentRecord, ConsentStatus, Customer, Event, StageChange
from journeys.models import Journey
from tests.factories import CustomerFactory

#: The documented run's --start: a Tuesday, so the weekend's referral asks go out.
START = datetime(2026, 3, 3, tzinfo=UTC)


ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "demo.md"


def _documented_run() -> list[str]:
    """The small run docs/demo.md shows, without --fresh: the test database is
    already empty, and --fresh deletes the embedded database's file."""
    (line,) = re.findall(r"^python manage.py demo --fresh (.*)$", DOC.read_text(), re.M)
    return shlex.split(line)


@pytest.fixture
def demo_run(db, tmp_path, settings):
    # Django's test set-up swaps in its in-memory backend; the demo uses the
    # .eml outbox whatever the setting says, and the test reads the files.
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    out = StringIO()
    report = tmp_path / "report.html"
    call_command("demo", *_documented_run(), report=report, no_progress=True, stdout=out)
    return out.getvalue(), report


def test_the_demo_runs_a_store_through_the_example_journeys_and_reports(demo_run, client):
    out, report = demo_run
    # The store, and the examples loaded through the commands.
    assert Customer.objects.filter(external_id__startswith="shop-").count() == 200
    assert Customer.objects.filter(external_id__startswith="web-").exists()  # CSV sign-ups
    assert Journey.objects.filter(status=Journey.Status.ACTIVE).count() == 5

    # Every email sent is an .eml file in the outbox, and customers answered it
    # through the tracking URLs: opens, clicks (with their redirect), events.
    sent = Delivery.objects.filter(sent_at__isnull=False)
    outbox = list(Path(settings.EMAIL_OUTBOX_DIR).glob("*.eml"))
    assert sent.count() == len(outbox) > 30
    assert sent.filter(opened_at__isnull=False).exists()
    assert DeliveryClick.objects.filter(machine=False).exists()
    assert Event.objects.filter(name="email_opened", properties__machine=False).exists()
    assert Event.objects.filter(name="purchase", received_at__gt=START).exists()

    # Nobody who had not consented got anything.
    never = Customer.objects.exclude(consent_records__status=ConsentStatus.GRANTED)
    assert never.exists()
    assert not sent.filter(customer__in=never).exists()
    withdrawn = ConsentRecord.objects.filter(status=ConsentStatus.WITHDRAWN)
    for record in withdrawn.filter(recorded_at__gte=START):
        later = sent.filter(customer=record.customer_id, sent_at__gt=record.recorded_at)
        assert not later.exclude(customer__consent_records__recorded_at__gt=record.recorded_at)
    assert "Consent check: OK." in out

    # The ladder moved people during the month, and the funnel says so.
    assert StageChange.objects.filter(changed_at__gt=START, cause__startswith="ladder").exists()
    assert re.search(r"Prospect\s+[\d,]+\s+[\d,]+\s+\(\+\d+\)", out)

    # Each experiment's verdict comes from campaigns.analysis.
    for key in ("message:welcome-1 on opens", "journey:welcome:nudge on conversions"):
        assert f"{key}: no significant difference yet" in out  # 200 customers are too few
    assert "under 1,000 units" in out

    html = report.read_text()
    assert "<h1>Ladder demo</h1>" in html and "message:welcome-1" in html
    # The admin report pages' charts: the ladder, each journey's funnel, each experiment.
    assert html.count("<svg") >= 3 + 5 + 2 * 4
    assert "Welcome series: funnel" in html

    # The README's tour of the admin works on what the demo left, with its login.
    assert "password ladder-demo" in out
    readme = (ROOT / "README.md").read_text()
    tour = readme[readme.index("## Five minutes in the admin") : readme.index("## More commands")]
    pages = re.findall(r"`(/admin/[^`]*)`", tour)
    assert len(pages) >= 8
    assert client.login(username="admin", password="ladder-demo")
    for page in pages:
        assert client.get(page).status_code == 200, page


def test_it_refuses_a_database_that_already_has_customers(db):
    CustomerFactory()
    with pytest.raises(CommandError, match="already has customers"):
        call_command("demo", customers=10, days=1, no_progress=True, stdout=StringIO())


def test_make_demo_starts_over_each_time_on_the_embedded_database(tmp_path):
    """What `make demo` runs, twice, as a process of its own on the embedded
    default: the second run deletes the first's database and emails, and
    makes the same month again."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env |= {"LADDER_VAR_DIR": str(tmp_path), "DJANGO_SETTINGS_MODULE": "config.settings"}
    command = [sys.executable, "manage.py", "demo", "--fresh", "--no-progress", "--customers",
               "40", "--days", "1", "--signups-per-day", "5", "--start", "2026-03-03"]  # fmt: skip
    runs = [
        subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
        for _ in range(2)
    ]
    for run in runs:
        assert run.returncode == 0, run.stderr
        assert "Starting from a clean demo database" in run.stdout
        assert "Store: 40 customers" in run.stdout
    # The same seed and start make the same month (all but the time it took).
    first, second = (run.stdout.rsplit("Done in", 1)[0] for run in runs)
    assert first == second
    assert (tmp_path / "demo" / "report.html").exists()


def test_fresh_is_only_for_the_embedded_sqlite_database(db):
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("on SQLite --fresh deletes the database file: the test above runs it")
    with pytest.raises(CommandError, match="--fresh only deletes the embedded SQLite"):
        call_command("demo", fresh=True, no_progress=True, stdout=StringIO())
