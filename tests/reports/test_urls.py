"""The reports' URLconf: building a URL does not load the reports' libraries."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
#: What the report views bring in, and a process that sends emails never uses.
HEAVY = ("numpy", "scipy", "matplotlib", "reports.views")


def test_building_tracking_and_report_urls_loads_no_report_libraries(tmp_path):
    # A fresh interpreter: this one has imported the views already. It does
    # what a Celery worker or a send_deliveries process does before it sends.
    script = (
        "import sys, django; django.setup(); from django.urls import reverse; "
        "reverse('tracking:open', args=['t']); reverse('reports:journey', args=['welcome']); "
        f"print(' '.join(m for m in {HEAVY!r} if m in sys.modules) or 'none')"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "CELERY_BROKER_URL")}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "LADDER_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["none"]
