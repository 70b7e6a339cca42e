"""Sending with several processes at once on the embedded default (SQLite).

Real processes on a real SQLite file, seeded by bench.delivery_embedded with
the benchmark's rows: ``send_deliveries --processes 2`` as an operator types
it, and ``dispatch_parallel`` with the benchmark's email-by-email check of
the ``.eml`` outbox.
"""

import json
import subprocess
import sys
from datetime import timedelta
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from bench.delivery import embedded_env
from campaigns.management.commands import send_deliveries
from campaigns.models import Delivery
from tests.factories import consented_customer, queued

ROOT = Path(__file__).resolve().parents[2]
CUSTOMERS = 600


def _run(workdir: Path, *command: str) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        env=embedded_env(workdir),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done


def _embedded(command: str, workdir: Path, *args: str) -> dict:
    module = ["-m", "bench.delivery_embedded", command, "--workdir", str(workdir), *args]
    return json.loads(_run(workdir, *module).stdout.strip().splitlines()[-1])


def _seed(workdir: Path) -> dict:
    count = str(CUSTOMERS)
    return _embedded("seed", workdir, "--customers", count, "--deliveries", count)


def test_two_processes_send_every_consented_email_once(tmp_path):
    seeded = _seed(tmp_path / "seed")

    sent = _embedded("run", tmp_path / "run", "--template", seeded["database"], "--processes", "2")

    assert sent["verify"]["checks"] == {name: True for name in sent["verify"]["checks"]}
    assert sent["report"]["sent"] == sent["verify"]["sent"] == seeded["consented"]
    assert sent["report"]["skipped"] == CUSTOMERS - seeded["consented"]


def test_send_deliveries_with_two_processes_says_what_it_sent(tmp_path):
    seeded = _seed(tmp_path)

    done = _run(tmp_path, "manage.py", "send_deliveries", "--until-idle", "--processes", "2")

    skipped = CUSTOMERS - seeded["consented"]
    assert f"sent {seeded['consented']:,} · skipped {skipped:,}" in done.stdout
    assert f"{CUSTOMERS}/{CUSTOMERS}" in done.stderr  # the progress bar reached the end
    assert len(list((tmp_path / "outbox").glob("*.eml"))) == seeded["consented"]


def test_the_process_count_must_be_at_least_one_and_nothing_is_sent(messages):
    (row,) = queued([consented_customer()])
    with pytest.raises(CommandError, match="--processes must be at least 1, not 0"):
        call_command("send_deliveries", "--until-idle", "--processes", "0", stdout=StringIO())
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.QUEUED


def test_nothing_due_starts_no_sending_process(messages, monkeypatch):
    # A row another sender leased is not due: the command, polling, would
    # otherwise start processes every few seconds to find nothing.
    (row,) = queued([consented_customer()])
    Delivery.objects.filter(pk=row.pk).update(lease_until=timezone.now() + timedelta(minutes=5))

    def started(*args, **kwargs):
        raise AssertionError("sending processes were started with nothing due")

    monkeypatch.setattr(send_deliveries, "dispatch_parallel", started)
    out = StringIO()
    call_command("send_deliveries", "--until-idle", "--processes", "2", stdout=out)

    assert out.getvalue() == ""
    assert Delivery.objects.get(pk=row.pk).status == Delivery.Status.QUEUED
