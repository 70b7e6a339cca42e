"""config.collector: long-running senders freeze start-up and leave young objects to refcounting."""

import subprocess
import sys

from celery.signals import worker_process_init, worker_ready

from config import celery, collector


def test_settle_freezes_start_up_and_raises_the_young_threshold():
    # In a fresh interpreter: settling this test process would change how the
    # rest of the suite collects.
    script = (
        "import gc; from config import collector; collector.settle(); "
        "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.split() == [str(collector.YOUNG_THRESHOLD), "True"]


def test_every_kind_of_celery_worker_settles_once_started():
    for signal in (worker_process_init, worker_ready):
        receivers = [ref() for _, ref in signal.receivers]
        assert celery._settle_collector in receivers
