"""Sending with several processes at once on the embedded default (SQLite).

Real processes on a real SQLite file: bench.delivery_embedded seeds a database
and sends it with ``dispatch_parallel`` as ``send_deliveries --processes``
does, then checks the ``.eml`` outbox email by email, as the benchmark does.
"""

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

ROOT = Path(__file__).resolve().parents[2]


def _embedded(command: str, workdir: Path, *args: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    env |= {"LADDER_VAR_DIR": str(workdir), "DJANGO_SETTINGS_MODULE": "config.settings"}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.delivery_embedded",
            command,
            "--workdir",
            str(workdir),
            *args,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_two_processes_send_every_consented_email_once(tmp_path):
    seeded = _embedded("seed", tmp_path / "seed", "--customers", "600", "--deliveries", "600")

    sent = _embedded("run", tmp_path / "run", "--template", seeded["database"], "--processes", "2")

    assert sent["verify"]["checks"] == {name: True for name in sent["verify"]["checks"]}
    assert sent["report"]["sent"] == sent["verify"]["sent"] == seeded["consented"]
    assert sent["report"]["skipped"] == 600 - seeded["consented"]


def test_the_process_count_must_be_at_least_one(db):
    with pytest.raises(CommandError, match="--processes must be at least 1, not 0"):
        call_command("send_deliveries", "--until-idle", "--processes", "0", stdout=StringIO())
