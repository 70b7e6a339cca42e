"""bench.delivery's CpuMeter: a group's CPU is its root's and its children's, once."""

import subprocess
import sys
import time

import pytest
from django.db import connection

from bench.delivery import CpuMeter

#: CPU seconds the child burns.
BURN = 1.2
ROOT_SCRIPT = f"""
import subprocess, sys
sys.stdin.readline()
subprocess.run([sys.executable, "-c",
    "import time\\nt = time.process_time()\\nwhile time.process_time() - t < {BURN}: pass"])
print("reaped", flush=True)
sys.stdin.readline()
"""


@pytest.mark.integration  # the meter reads PostgreSQL's backends
def test_a_child_that_ran_and_was_reaped_counts_once():
    """Seen alive by the samples, then in its parent's reaped CPU: once, not twice
    (sending processes of ``send_deliveries --processes`` are such children)."""
    db = connection.settings_dict
    root = subprocess.Popen(
        [sys.executable, "-c", ROOT_SCRIPT],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        meter = CpuMeter(db["NAME"], f"postgresql://{db['USER']}@{db['HOST']}:{db['PORT']}")
        meter.watch(root.pid, "workers")
        with meter:
            time.sleep(0.1)
            root.stdin.write("go\n")
            root.stdin.flush()
            assert root.stdout.readline().strip() == "reaped"
        used = meter.used()["workers"]
    finally:
        root.communicate("\n", timeout=30)

    assert BURN <= used < BURN + 0.5  # the burn, plus the child's and root's start-up
