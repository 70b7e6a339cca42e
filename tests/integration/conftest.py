"""Real Celery worker processes for integration tests (PostgreSQL + Redis).

Each test run uses its own queue name, so a worker started here never takes
tasks meant for another run, and no stale task from elsewhere reaches it.
"""

import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from config.workers import WorkerDidNotStart, worker_start, workers_stop
from tests.conftest import celery_conf

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def worker_queue():
    """Route every task of this test to a queue only its workers read."""
    queue = f"ladder-test-{uuid.uuid4().hex[:8]}"
    with celery_conf(task_default_queue=queue, task_always_eager=False):
        yield queue


@pytest.fixture
def start_worker(worker_queue, tmp_path, transactional_db):
    """Start real ``celery worker`` processes on the test database; stop them after."""
    processes: list[subprocess.Popen] = []
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_BACKEND": "config.mail.EmlOutboxBackend",
        "EMAIL_OUTBOX_DIR": str(settings.EMAIL_OUTBOX_DIR),
        "CONN_MAX_AGE": "0",
    }

    def start(name: str = "w1", **extra_env: str) -> subprocess.Popen:
        hostname = f"{name}-{worker_queue}@localhost"
        try:
            processes.append(
                worker_start(
                    hostname=hostname,
                    queue=worker_queue,
                    env={**env, **extra_env},
                    log=tmp_path / f"{name}.log",
                    timeout=30,
                )
            )
        except WorkerDidNotStart as exc:
            pytest.fail(str(exc))
        return processes[-1]

    yield start
    workers_stop(processes)


def wait_for(condition, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}")
