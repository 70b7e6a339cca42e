"""Every environment variable the settings read is in the README's configuration table."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_setting_from_the_environment_is_in_the_readme():
    settings = (ROOT / "config" / "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z][A-Z0-9_]*)"', settings))
    assert {"DATABASE_URL", "CELERY_BROKER_URL", "LADDER_SEND_RATE"} <= read
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("## Configuration") : readme.index("## Using it")]
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]*)`", table))
    assert read - documented == set()
