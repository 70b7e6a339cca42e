"""Starting and stopping real Celery worker processes, for the integration
tests and the benchmarks (both need workers that run exactly as in production,
on a queue of their own, and must know when a worker is ready to take tasks).
"""

import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

from config.celery import app

ROOT = Path(__file__).resolve().parent.parent


class WorkerDidNotStart(RuntimeError):
    pass


def worker_start(
    *, hostname: str, queue: str, env: dict[str, str], log: Path, timeout: float = 60
) -> subprocess.Popen:
    """Start ``celery worker`` (one process, solo pool) on ``queue``; return once it
    answers a ping, or raise WorkerDidNotStart with the tail of its log."""
    with open(log, "w") as output:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "-Q",
                queue,
                "-n",
                hostname,
                "-P",
                "solo",
                "--without-gossip",
                "--without-mingle",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + timeout
    while not app.control.ping(destination=[hostname], timeout=0.5):
        if time.monotonic() > deadline or process.poll() is not None:
            process.kill()
            raise WorkerDidNotStart(f"worker {hostname} did not start:\n{log.read_text()[-3000:]}")
    return process


def workers_stop(processes: Iterable[subprocess.Popen], timeout: float = 20) -> None:
    """Ask every worker to finish (warm shutdown), then kill those that do not."""
    processes = list(processes)
    for process in processes:
        process.terminate()
    for process in processes:
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
