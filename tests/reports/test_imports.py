"""What the reports weigh on processes that never show one.

The reports bring numpy, scipy and matplotlib (about 100 MB and two seconds
per process). A Celery worker runs Django's checks when it starts, which load
every template tag library, and builds URLs for the tracking links in emails,
which loads the whole URLconf; neither may pull the reports in.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("numpy", "scipy", "matplotlib", "reports.views")


def _loaded_after(code: str, tmp_path: Path) -> list[str]:
    """The HEAVY modules a fresh interpreter (this one has them all) holds after ``code``."""
    script = (
        f"import sys, django; django.setup(); {code}; "
        f"print(*[m for m in {HEAVY!r} if m in sys.modules])"
    )
    # CELERY_SKIP_CHECKS would skip the start-up checks the first test is about.
    dropped = ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_SKIP_CHECKS")
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings", "LADDER_VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_a_worker_starting_and_building_urls_loads_no_report_libraries(tmp_path):
    # What a Celery worker does before its first task (its Django fix-up runs
    # the checks), then the URLs one email carries, and a report's URL.
    code = (
        "from config.celery import app; app.loader.import_default_modules(); "
        "from django.urls import reverse; reverse('tracking:open', args=['t']); "
        "reverse('reports:journey', args=['welcome'])"
    )
    assert _loaded_after(code, tmp_path) == []


def test_the_template_tags_of_the_report_pages_load_no_statistics(tmp_path):
    code = "from django.template import engines; engines['django'].engine.template_libraries"
    assert _loaded_after(code, tmp_path) == []
