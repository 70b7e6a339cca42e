"""Several processes sending the outbox at once, where no Celery workers do.

With a broker, parallel sending is Celery's: each worker process runs
``deliveries_dispatch``. Without one (the embedded default: SQLite, tasks run
in-process) ``send_deliveries --processes N`` uses :func:`dispatch_parallel`:
N fresh processes each send batches until nothing is due. Claims keep them
apart exactly as they keep Celery workers apart (claim.py); on SQLite each
renders outside its claim's transaction, so they take turns only for their
short writes (``send.renders_in_claim``).
"""

import multiprocessing
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait
from dataclasses import asdict

import django
from django.db import connections

from config import collector

from .pipeline import dispatch_until
from .send import DispatchReport

#: Seconds between two calls of ``progress`` while the processes send.
PROGRESS_SECONDS = 0.5


def _send_until_idle() -> dict[str, int]:
    """In a sending process: batches until none is due, as its report's fields."""
    collector.settle()  # as workers do
    return asdict(dispatch_until())


def dispatch_parallel(
    processes: int, *, progress: Callable[[], None] | None = None
) -> DispatchReport:
    """Send what is due with ``processes`` processes; returns their reports added up.

    The processes are started fresh (``spawn``), each with its own database
    connection, and set Django up from this process's environment. The first
    failure of any of them is raised here once all have stopped.
    """
    connections.close_all()  # nothing of this process's connection goes with them
    context = multiprocessing.get_context("spawn")
    report = DispatchReport()
    with ProcessPoolExecutor(processes, mp_context=context, initializer=django.setup) as pool:
        futures = [pool.submit(_send_until_idle) for _ in range(processes)]
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=PROGRESS_SECONDS, return_when=FIRST_EXCEPTION)
            if progress is not None:
                progress()
            if any(future.exception() for future in done):
                wait(pending)
                break
    for future in futures:
        report.add(DispatchReport(**future.result()))  # raises the first failure
    return report
