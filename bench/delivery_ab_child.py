"""One side of ``bench.delivery_ab``: dispatches slices of deliveries when told to.

Run by path with ``PYTHONPATH`` naming the tree under test, so that tree's
Ladder code is what runs; only the standard library and that tree are
imported (this file is not a module of it). Protocol, one line each way:

    ready <PostgreSQL backend pid>             after a warm-up batch
    <- slice <n>
    done <sent> <CPU seconds of this process> <PostgreSQL backend pid>
"""

import sys
import time

# sys.path[0] is this file's directory, whose module names (delivery, memory,
# …) must not shadow anything the tree under test imports.
sys.path.pop(0)


def _backend_pid() -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


def _dispatch(wanted: int) -> int:
    """Batches until ``wanted`` emails went out (the last batch may pass it)."""
    from campaigns.dispatch import dispatch_batch

    sent = 0
    while sent < wanted:
        report = dispatch_batch()
        sent += report.sent
        if report.idle:
            break
    return sent


def main() -> int:
    import django

    django.setup()
    _dispatch(1)  # compile the templates, register the links
    try:
        from config import collector
    except ImportError:  # a tree from before the collector was settled
        pass
    else:
        collector.settle()
    print(f"ready {_backend_pid()}", flush=True)
    for line in sys.stdin:
        command, _, argument = line.partition(" ")
        if command != "slice":
            break
        started = time.process_time()
        sent = _dispatch(int(argument))
        cpu = time.process_time() - started
        print(f"done {sent} {cpu:.6f} {_backend_pid()}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
