"""Lifecycle sweep benchmark: every customer's metrics and ladder stage, recomputed.

On PostgreSQL, in a database of its own:

1. Seeds N customers (default 1,000,000) and their history with ``COPY``:
   consents, a year of sent emails (deliveries, some opened or clicked, some
   by machines, some bounced) and two years of events (purchases, refunds,
   opens, clicks, page views, reviews, referrals, NPS answers), from a fixed
   random seed. Then VACUUM ANALYZE, as autovacuum would have by night.
2. Runs the sweep twice through ``customers_sweep``, as the nightly task does:
   the **first** sweep, where nearly everyone gets metrics and moves from
   suspect (a fresh installation, or a ladder edited for everyone), and the
   **nightly** one a day later, where scores decay and a few customers lapse
   or move. The target (≤ 60 s for 1,000,000 customers) applies to both.

The stage changes the sweeps write are left for the journey engine, whose own
benchmark measures routing: its after-commit kick is disconnected here, so
the figure is the sweep's alone.

Run by ``python -m bench.sweep [--customers N | --quick]``; the last line of
output is the result as JSON, for ``python -m bench``.
"""

import argparse
import io
import os
import random
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from bench.cli import finish, where_arguments
from bench.engine import messages_create
from bench.ingest import CpuMeter, customers_copy, database_recreate
from bench.memory import peak_reset, peak_rss_mb

#: The issue's target, in seconds, for a sweep of 1,000,000 customers.
TARGET_SECONDS = 60
TARGET_CUSTOMERS = 1_000_000
QUICK_CUSTOMERS = 20_000
#: Share of the machine other processes may take before a figure is flagged
#: as noisy, as ``python -m bench`` does.
NOISY_LOAD = 0.1

#: Shares of customers, roughly those of a shop that has run for two years.
ACTIVE = 0.6  # did anything at all; the rest are imported suspects
BUYERS = 0.55  # of the active
MAILED = 0.7  # of the active
BROWSERS = 0.5  # of the active
ADVOCATES = 0.03  # of the active
CONSENTED = 0.6  # of everyone; another 5% withdrew
#: Orders per buyer, drawn uniformly from this list.
ORDERS = (1, 1, 1, 1, 2, 2, 3, 4, 5, 7)
#: Per email sent: opened by a person, fetched by a machine, clicked (if
#: opened), bounced.
OPENED, MACHINE_OPENED, CLICKED, BOUNCED = 0.35, 0.15, 0.3, 0.02


def _stamp(at: datetime) -> str:
    return at.isoformat()


class _Copy:
    """Rows for one table, sent with COPY as text: tab-separated, ``\\N`` for NULL.

    The values here hold no tabs, newlines or backslashes, so no escaping is
    needed, and building text is several times faster than ``write_row``.
    Rows go out every ``FLUSH_ROWS``, so memory stays flat however many.
    """

    FLUSH_ROWS = 200_000

    def __init__(self, cursor, table: str, columns: tuple[str, ...]) -> None:
        self.cursor = cursor
        self.statement = f"COPY {table} ({', '.join(columns)}) FROM STDIN"
        self.buffer = io.StringIO()
        self.rows = 0

    def add(self, *values: object) -> None:
        self.buffer.write("\t".join(r"\N" if v is None else str(v) for v in values) + "\n")
        self.rows += 1
        if self.rows % self.FLUSH_ROWS == 0:
            self.flush()

    def flush(self) -> None:
        with self.cursor.copy(self.statement) as copy:
            copy.write(self.buffer.getvalue())
        self.buffer = io.StringIO()


def seed(customers: int, *, now: datetime, rng: random.Random) -> dict[str, Any]:
    """Customers with COPY (bench.ingest), then their consents, emails and events."""
    from django.db import connection

    from campaigns.models import Message, Variant
    from customers.models import Topic

    started = time.perf_counter()
    customers_copy(emails=[f"c{n}@bench.test" for n in range(customers)])
    messages_create()
    message = Message.objects.get(key="bench")
    variant = Variant.objects.filter(message=message).values_list("pk", flat=True).first()
    topic = Topic.objects.get(key="email_marketing").pk
    with connection.cursor() as cursor:
        cursor.execute("SELECT min(id) FROM customers_customer")
        first_id = cursor.fetchone()[0]
    cursor = connection.cursor().cursor  # the driver's own, for COPY

    consents = _Copy(
        cursor,
        "customers_consent",
        ("customer_id", "topic_id", "status", "text_version", "updated_at"),
    )
    deliveries = _Copy(
        cursor,
        "campaigns_delivery",
        ("customer_id", "message_id", "variant_id", "status", "journey_key", "step_key", "visit",
         "queued_at", "updated_at", "sent_at", "opened_at", "open_count", "machine_opened_at",
         "clicked_at", "click_count", "bounced_at"),
    )  # fmt: skip
    events = _Copy(
        cursor,
        "customers_event",
        ("customer_id", "name", "properties", "value", "currency", "occurred_at", "received_at",
         "idempotency_key", "routed_at"),
    )  # fmt: skip
    stamp_now = _stamp(now)

    def event(customer_id: int, name: str, at: datetime, properties: str = "{}", value=None):
        events.add(
            customer_id, name, properties, value, "EUR" if value is not None else "",
            _stamp(at), stamp_now, f"bench-{events.rows}", stamp_now,
        )  # fmt: skip

    def ago(days: int) -> datetime:
        return now - timedelta(days=rng.random() * days)

    for customer_id in range(first_id, first_id + customers):
        r = rng.random()
        if r < CONSENTED:
            consents.add(customer_id, topic, "granted", "bench", stamp_now)
        elif r < CONSENTED + 0.05:
            consents.add(customer_id, topic, "withdrawn", "bench", stamp_now)
        if rng.random() >= ACTIVE:
            continue
        if rng.random() < BUYERS:
            for _ in range(rng.choice(ORDERS)):
                at, value = ago(730), f"{rng.randint(500, 30000) / 100:.2f}"
                event(customer_id, "purchase", at, value=value)
                if rng.random() < 0.04:
                    event(customer_id, "refund", at + timedelta(days=3), value=value)
        if rng.random() < MAILED:
            for _ in range(rng.randint(1, 6)):
                sent = ago(365)
                opened = machine = clicked = bounced = None
                if rng.random() < BOUNCED:
                    bounced = sent
                elif rng.random() < MACHINE_OPENED:
                    machine = sent + timedelta(seconds=2)
                    event(customer_id, "email_opened", machine, '{"machine": true}')
                if bounced is None and rng.random() < OPENED:
                    opened = sent + timedelta(hours=rng.randint(1, 48))
                    event(customer_id, "email_opened", opened, '{"machine": false}')
                    if rng.random() < CLICKED:
                        clicked = opened + timedelta(minutes=1)
                        event(customer_id, "email_clicked", clicked, '{"machine": false}')
                deliveries.add(
                    customer_id, message.pk, variant, "bounced" if bounced else "sent", "bench",
                    "send", 0, _stamp(sent), _stamp(sent), _stamp(sent),
                    opened and _stamp(opened), int(opened is not None),
                    machine and _stamp(machine), clicked and _stamp(clicked),
                    int(clicked is not None), bounced and _stamp(bounced),
                )  # fmt: skip
        if rng.random() < BROWSERS:
            for _ in range(rng.randint(1, 4)):
                event(customer_id, "page_view", ago(120), '{"path": "/"}')
        if rng.random() < ADVOCATES:
            name = rng.choice(("review", "referral", "nps"))
            score = f'{{"score": {rng.randint(0, 10)}}}' if name == "nps" else "{}"
            event(customer_id, name, ago(500), score)

    for table in (consents, deliveries, events):
        table.flush()
    cursor.close()
    with connection.cursor() as cursor:
        # What autovacuum would have done by night: statistics for the
        # planner, and a visibility map so the rules' EXISTS probes can stay
        # in the indexes.
        cursor.execute("VACUUM ANALYZE")
    return {
        "seed_seconds": round(time.perf_counter() - started, 1),
        "events": events.rows,
        "deliveries": deliveries.rows,
    }


def sweep(*, at: datetime, database_url: str) -> dict[str, Any]:
    from customers.services.lifecycle import customers_sweep

    # No server process here: the sweep runs in this one (the "client").
    with CpuMeter(server_pid=-1, database_url=database_url) as cpu:
        started = time.perf_counter()
        report = customers_sweep(at=at)
        seconds = time.perf_counter() - started
    used = cpu.used()
    return {
        "seconds": round(seconds, 2),
        "customers_per_second": round(report.customers / seconds),
        "customers": report.customers,
        "recomputed": report.recomputed,
        "moved": report.moved,
        "cpu_seconds": {name: round(used.get(name, 0.0), 1) for name in ("postgres", "client")},
        "other_load": round(used["other"] / (seconds * (os.cpu_count() or 1)), 2) if used else None,
    }


def stages() -> dict[str, int]:
    from django.db.models import Count

    from customers.models import Customer

    return dict(Customer.objects.values_list("stage").annotate(n=Count("pk")).order_by("stage"))


def run(args: argparse.Namespace) -> dict[str, Any]:
    database_recreate(server_url=args.server_url, database=args.database)
    database_url = f"{args.server_url.rstrip('/')}/{args.database}"
    os.environ.update(
        {
            "DATABASE_URL": database_url,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DEBUG": "false",
            "LADDER_SWEEP_CHUNK": str(args.chunk),
            "LADDER_SWEEP_PARALLELISM": str(args.parallelism),
        }
    )
    # No broker: nothing may wait in a queue nobody drains.
    os.environ.pop("CELERY_BROKER_URL", None)
    import django

    django.setup()
    from django.core.management import call_command

    from customers.signals import activity_recorded

    call_command("migrate", interactive=False, verbosity=0)
    activity_recorded.disconnect(dispatch_uid="journeys-kick-engine")

    now = datetime.now(UTC).replace(microsecond=0)
    result: dict[str, Any] = {
        "scenario": "sweep",
        "customers": args.customers,
        "chunk": args.chunk,
        "parallelism": args.parallelism,
    }
    result.update(seed(args.customers, now=now, rng=random.Random(args.seed)))
    # The seeding's rows are not the sweep's memory.
    peak_reset()
    result["first"] = sweep(at=now, database_url=database_url)
    nightly = now + timedelta(days=1)
    result["nightly"] = sweep(at=nightly, database_url=database_url)
    result["peak_memory_mb"] = {f"sweep process ({args.parallelism} threads)": peak_rss_mb()}
    result["stages"] = stages()
    result["checks"] = {"per_event_path_agrees": per_event_path_agrees(at=nightly)}
    result["complete"] = all(result["checks"].values())
    if args.customers >= TARGET_CUSTOMERS:
        result["target_met"] = all(
            result[name]["seconds"] <= TARGET_SECONDS for name in ("first", "nightly")
        )
    return result


def per_event_path_agrees(*, at: datetime, sample: int = 1000) -> bool:
    """Recomputing a sample of customers the way events do, at the sweep's
    moment, must find nothing to change."""
    from customers.models import Customer
    from customers.services.lifecycle import customers_refresh

    ids = list(Customer.objects.order_by("?").values_list("pk", flat=True)[:sample])
    report = customers_refresh(activity=[(pk, "purchase") for pk in ids], at=at)
    return (report.recomputed, report.moved) == (0, 0)


def report(result: dict[str, Any]) -> None:
    print(
        f"Lifecycle sweep, {result['customers']:,} customers, {result['events']:,} events, "
        f"{result['deliveries']:,} emails (seeded in {result['seed_seconds']} s):"
    )
    for name in ("first", "nightly"):
        sweep = result[name]
        verdict = ""
        if "target_met" in result:
            met = sweep["seconds"] <= TARGET_SECONDS
            verdict = f"  (target ≤ {TARGET_SECONDS} s: {'met' if met else 'MISSED'})"
        print(
            f"  {name + ' sweep:':15} {sweep['seconds']:>7} s  "
            f"{sweep['customers_per_second']:>9,} customers/s  "
            f"{sweep['recomputed']:>9,} recomputed  {sweep['moved']:>9,} moved{verdict}"
        )
        if (sweep["other_load"] or 0) > NOISY_LOAD:
            print(
                f"  {'':15} other processes took {sweep['other_load']:.0%} of the machine "
                "meanwhile: the time overstates what this machine does alone"
            )
    print(f"  stages after:   {result['stages']}")
    print(f"  checks:         {result['checks']}")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.sweep", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=TARGET_CUSTOMERS)
    parser.add_argument(
        "--quick", action="store_true", help=f"{QUICK_CUSTOMERS:,} customers, for CI"
    )
    parser.add_argument("--chunk", type=int, default=10_000, help="LADDER_SWEEP_CHUNK (10,000)")
    parser.add_argument(
        "--parallelism", type=int, default=2, help="LADDER_SWEEP_PARALLELISM (2, one per core)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed of the history (1)")
    where_arguments(parser, database="ladder_bench_sweep")
    args = parser.parse_args(argv)
    if args.quick:
        args.customers = QUICK_CUSTOMERS
    # A missed target is a figure (reported above); only a failed check fails.
    return finish(run(args), report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
