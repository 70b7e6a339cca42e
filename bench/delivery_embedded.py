"""The embedded default for bench.delivery: SQLite, no broker, ``.eml`` outbox.

Run by bench.delivery in processes of its own, since Django is set up on one
database per process and the settings read ``LADDER_VAR_DIR`` once:

* ``seed`` — migrates a SQLite database under ``--workdir``, seeds it with
  the same rows as the PostgreSQL paths (same code, executemany instead of
  COPY) and queues the deliveries through ``deliveries_queue``;
* ``run`` — copies that database into ``--workdir`` and times sending until
  nothing is left, as ``send_deliveries --processes N`` sends (``--processes``,
  2 by default: one per core, as the other paths have two workers; 1 runs
  ``dispatch_until()`` in this process), then checks the outbox as the other
  paths check the sink.

Each prints one JSON line.
"""

import argparse
import json
import os
import resource
import shutil
import sys
import time
from email import policy
from email.parser import BytesHeaderParser
from pathlib import Path


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def _database() -> Path:
    from django.conf import settings

    return Path(settings.DATABASES["default"]["NAME"])


def seed(args: argparse.Namespace) -> dict:
    from bench import delivery

    _setup()
    from django.core.management import call_command
    from django.db import connection

    started = time.perf_counter()
    call_command("migrate", interactive=False, verbosity=0)
    seeded = delivery.seed(customers=args.customers, seed=args.seed)
    delivery.deliveries_requeue(args.deliveries)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.close()
    return {
        "database": str(_database()),
        **seeded,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def outbox_received(outbox: Path) -> list:
    """What the .eml files hold, as bench.delivery's checks read the sink."""
    from bench.delivery import received_message

    parser = BytesHeaderParser(policy=policy.default)
    received = []
    for path in outbox.glob("*.eml"):
        data = path.read_bytes()
        end = data.find(b"\r\n\r\n")
        headers = parser.parsebytes(data[: end + 4] if end >= 0 else data)
        received.append(
            received_message(
                str(headers["To"] or ""),
                str(headers["Subject"] or ""),
                None,
                str(headers["Message-ID"] or ""),
            )
        )
    return received


def run(args: argparse.Namespace) -> dict:
    from bench import delivery

    workdir = Path(os.environ["LADDER_VAR_DIR"])
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(args.template, workdir / "ladder.sqlite3")
    _setup()
    from django.conf import settings

    from campaigns.dispatch import dispatch_until
    from campaigns.dispatch.parallel import dispatch_parallel
    from config import collector

    assert _database() == workdir / "ladder.sqlite3", _database()
    expected = delivery.expectations()
    print(delivery.STARTED, flush=True)  # bench.delivery meters the CPU from here
    collector.settle()  # as send_deliveries does before it sends
    started = time.perf_counter()
    report = dispatch_parallel(args.processes) if args.processes > 1 else dispatch_until()
    seconds = time.perf_counter() - started
    print(delivery.ENDED, flush=True)
    # The largest of this process and the sending processes it started (and reaped).
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    peak = max(delivery.peak_rss_mb(os.getpid()), round(children, 1))
    checked = time.perf_counter()
    verified = delivery.verify(
        expected=expected,
        status=delivery.statuses(),
        received=outbox_received(Path(settings.EMAIL_OUTBOX_DIR)),
        rows_per_customer_ok=delivery.rows_per_customer_ok(),
    )
    answer = {
        "deliveries": len(expected),
        "seconds": round(seconds, 3),
        "report": {name: getattr(report, name) for name in report.__dataclass_fields__},
        "verify": verified,
        "peak_rss_mb": peak,
        "check_seconds": round(time.perf_counter() - checked, 1),
    }
    shutil.rmtree(workdir, ignore_errors=True)  # up to 1.5 GB of .eml at full size
    return answer


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_embedded", description=__doc__)
    parser.add_argument("command", choices=["seed", "run"])
    parser.add_argument("--customers", type=int, default=2000)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--template", help="run: the seeded database to copy")
    parser.add_argument("--processes", type=int, default=2, help="run: sending processes (2)")
    parser.add_argument("--workdir", required=True, help="LADDER_VAR_DIR of this process")
    args = parser.parse_args(argv)
    if os.environ.get("LADDER_VAR_DIR") != args.workdir:
        parser.error("set LADDER_VAR_DIR to --workdir (bench.delivery does)")
    if os.environ.get("DATABASE_URL") or os.environ.get("CELERY_BROKER_URL"):
        parser.error("the embedded default runs without DATABASE_URL and CELERY_BROKER_URL")
    answer = seed(args) if args.command == "seed" else run(args)
    print(json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
