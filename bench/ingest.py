"""Scenario "ingest": batches of events through the HTTP API into PostgreSQL.

This is what a shop's backend does all day: POST /api/v1/events/batch with
1,000 events at a time. The API runs under gunicorn as in production, the
client sits on loopback and the database is a fresh PostgreSQL one, so the
figure includes everything a real request pays for: HTTP, JSON, validation,
the customer lookup, the idempotency check and the INSERT. With no broker
(the bare-machine default) Celery runs tasks in-process, so the journey
engine's routing, kicked when a batch commits, runs inside the request too.

The client must not compete with the server for the CPU it is measuring, so
every body is serialized before the clock starts and the sending threads only
write bytes and wait.

Run by ``python -m bench`` in a process of its own, or alone:
``python -m bench.ingest --customers 2000 --events 20000``.
"""

import argparse
import os
import random
import sys
import threading
from collections.abc import Collection
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import Any

import orjson
import psycopg
from psycopg import sql

from bench import memory
from bench.cli import finish, where_arguments
from bench.serving import (
    Clients,
    Refused,
    TempLog,
    gunicorn_start,
    latency_ms,
    server_stop,
    server_wait,
)

#: Where the batches go.
BATCH_PATH = "/api/v1/events/batch"
#: How far back occurred_at goes, like a backfill of the last month.
EVENT_WINDOW = timedelta(days=30)
#: The API's limit (settings.LADDER_API_MAX_BATCH); read here without setting Django up.
MAX_BATCH = 1000

#: event name -> share of the stream; most traffic is browsing, some of it buys.
EVENT_MIX = {"page_view": 0.8, "purchase": 0.2}
REFERRERS = ("google", "newsletter", "instagram", "direct", "partner-blog")
DEVICES = ("mobile", "desktop", "tablet")
CURRENCIES = ("EUR", "USD", "GBP")


@dataclass(frozen=True)
class IngestConfig:
    #: A PostgreSQL server URL without a database, e.g. postgresql://postgres@127.0.0.1:5432.
    server_url: str
    #: The bench's own database on that server; dropped and recreated on every run.
    database: str
    customers: int
    #: Events in the measured phase, rounded down to whole batches.
    events: int
    batch: int
    #: Batches sent before the clock starts, so every worker has imported and connected.
    warmup_batches: int
    clients: int
    workers: int
    worker_class: str
    #: Threads per worker; gunicorn uses them only with the gthread class.
    threads: int
    #: The measured phase stops sending after this many seconds, finished or not.
    time_limit: float
    seed: int


def run(config: IngestConfig) -> dict[str, Any]:
    """Set up, measure, verify; return the figures and what they were measured on."""
    database_url = f"{config.server_url.rstrip('/')}/{config.database}"
    database_recreate(server_url=config.server_url, database=config.database)
    emails, api_key = django_prepare(database_url=database_url, customers=config.customers)

    measured_batches = max(1, config.events // config.batch)
    bodies = bodies_build(
        emails=emails,
        batches=config.warmup_batches + measured_batches,
        size=config.batch,
        rng=random.Random(config.seed),
    )
    warmup, measured = bodies[: config.warmup_batches], bodies[config.warmup_batches :]

    with TempLog() as log:
        server = gunicorn_start(
            app="config.wsgi",
            env={"DATABASE_URL": database_url},
            workers=config.workers,
            worker_class=config.worker_class,
            threads=config.threads,
            log=log.file,
        )
        try:
            server_wait(server=server, log=log, path="/api/v1/openapi.json")
            send = Clients(
                port=server.port,
                path=BATCH_PATH,
                headers={"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"},
                clients=config.clients,
            )
            warm = send(warmup, judge=_all_new, time_limit=len(warmup) * 120 + 60)
            with CpuMeter(server_pid=server.process.pid, database_url=database_url) as meter:
                sent = send(measured, judge=_all_new, time_limit=config.time_limit)
            cpu = meter.used()
            checks = verify(send=send, resend=measured[0], expected=warm.accepted + sent.accepted)
            peaks = server.worker_peaks_mb()
        except Exception:
            sys.stderr.write(log.tail())
            raise
        finally:
            server_stop(server.process)

    if not sent.accepted:
        raise RuntimeError(f"no batch was answered within the {config.time_limit:.0f}s limit")
    latency = latency_ms([sent])
    ours = sum(seconds for name, seconds in cpu.items() if name != "other")
    return {
        "scenario": "ingest",
        "events": sent.accepted,
        "seconds": round(sent.seconds, 3),
        "events_per_second": round(sent.accepted / sent.seconds),
        "batch_ms_p50": latency["p50"],
        "batch_ms_p99": latency["p99"],
        "batch_ms_max": latency["max"],
        "warmup_events": warm.accepted,
        "cpu_seconds_per_1000_events": {
            name: round(1000 * seconds / sent.accepted, 3) for name, seconds in cpu.items()
        },
        # What one event costs us (gunicorn + PostgreSQL + client), whoever else
        # shares the machine: the figure to compare between commits.
        "cpu_us_per_event": round(1e6 * ours / sent.accepted, 1) if cpu else None,
        # Share of all cores that other processes took during the run.
        "other_load": round(cpu["other"] / (sent.seconds * (os.cpu_count() or 1)), 2)
        if cpu
        else None,
        "checks": checks | {"finished_within_time_limit": sent.complete},
        "complete": sent.complete and all(checks.values()),
        "peak_memory_mb": {"gunicorn workers": peaks, "client": memory.peak_rss_mb()},
        # Not the server URL: it may hold a password.
        "config": {k: v for k, v in asdict(config).items() if k != "server_url"},
    }


def _all_new(status: int, body: bytes) -> int:
    """A measured batch must be accepted whole: every event new."""
    answer = _json(body)
    if status != 202 or answer.get("duplicates") != 0:
        raise Refused(f"HTTP {status}: {answer}")
    return answer["accepted"]


def _json(body: bytes) -> dict[str, Any]:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return {"body": body[:500].decode(errors="replace")}


# --- Set-up -----------------------------------------------------------------


def database_recreate(*, server_url: str, database: str) -> None:
    """Drop and create the bench database, so every run starts from the same empty state."""
    with psycopg.connect(f"{server_url.rstrip('/')}/postgres", autocommit=True) as conn:
        name = sql.Identifier(database)
        # FORCE ends connections left by an interrupted run (a stray gunicorn worker).
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(name))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(name))


def django_prepare(*, database_url: str, customers: int) -> tuple[list[str], str]:
    """Migrate, seed the customers and create an API key; return their emails and the key.

    Django is set up here, not at import, because settings read DATABASE_URL
    once and it must name the bench database, whatever the shell has set.
    """
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from customers.services.api_keys import api_key_create

    call_command("migrate", interactive=False, verbosity=0)
    emails = [f"customer-{n:07d}@example.com" for n in range(customers)]
    customers_copy(emails=emails)
    _, raw_key = api_key_create(name="bench")
    connection.close()
    return emails, raw_key


def customers_copy(*, emails: list[str]) -> None:
    """Insert one customer per email with COPY: 10,000 rows in well under a second.

    Columns and defaults come from the model, not a list kept here, so a field
    added later (with a default) does not break the bench.
    """
    from django.db import connection

    from customers.models import Customer

    fields = [f for f in Customer._meta.concrete_fields if not f.primary_key]
    given = {"first_name": "Bench", "time_zone": "Europe/Paris", "attributes": {"plan": "free"}}
    row = []
    for f in fields:
        value = f.get_db_prep_save(given.get(f.name, f.get_default()), connection)
        # psycopg writes an Enum by its name; the column wants the choice's value.
        row.append(value.value if isinstance(value, Enum) else value)
    email_at = [f.name for f in fields].index("email")

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(Customer._meta.db_table),
        sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for email in emails:
            row[email_at] = email
            copy.write_row(row)
    with connection.cursor() as cursor:
        # Fresh tables have no statistics; without them the planner may scan
        # customers for every batch's "email IN (...)" instead of using the index.
        cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(Customer._meta.db_table)))


def bodies_build(*, emails: list[str], batches: int, size: int, rng: random.Random) -> list[bytes]:
    """Serialized batch bodies: events of seeded customers over the last 30 days."""
    now = datetime.now(UTC)
    window = EVENT_WINDOW.total_seconds()
    names, weights = list(EVENT_MIX), list(EVENT_MIX.values())
    bodies = []
    for b in range(batches):
        events = []
        for n, name in enumerate(rng.choices(names, weights, k=size)):
            event: dict[str, Any] = {
                "email": rng.choice(emails),
                "name": name,
                "occurred_at": (now - timedelta(seconds=rng.random() * window)).isoformat(
                    timespec="milliseconds"
                ),
                "idempotency_key": f"bench-{b:06d}-{n:05d}",
            }
            if name == "purchase":
                event["properties"] = {
                    "order_id": f"o-{b:06d}-{n:05d}",
                    "items": rng.randint(1, 5),
                    "coupon": rng.choice((None, "SPRING10")),
                }
                event["value"] = round(rng.uniform(5, 400), 2)
                event["currency"] = rng.choice(CURRENCIES)
            else:
                event["properties"] = {
                    "path": f"/products/{rng.randrange(1, 5000)}",
                    "referrer": rng.choice(REFERRERS),
                    "device": rng.choice(DEVICES),
                }
            events.append(event)
        bodies.append(orjson.dumps({"events": events}))
    return bodies


def verify(*, send: Clients, resend: bytes, expected: int) -> dict[str, bool]:
    """Every accepted event is one row, and a retried batch stores nothing twice."""
    from customers.models import Event

    stored = Event.objects.count()
    status, body = send.post_once(resend)
    answer = _json(body)
    return {
        "one_row_per_accepted_event": stored == expected,
        "resent_batch_all_duplicates": status == 202
        and answer.get("accepted") == 0
        and answer.get("duplicates") == len(orjson.loads(resend)["events"]),
        "resent_batch_adds_no_row": Event.objects.count() == stored,
    }


# --- CPU accounting ---------------------------------------------------------

#: Linux clock ticks per second, the unit of /proc CPU times.
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
#: Seconds between two looks at /proc: a process that ends loses at most this much,
#: and each look costs the client a few milliseconds.
CPU_SAMPLE_INTERVAL = 1.0


class CpuMeter:
    """CPU seconds spent while it runs by gunicorn, PostgreSQL, this client and others.

    So that "what bounds the number" has an answer: on a 2-core machine they
    all share the same cores. Read from /proc every second rather than
    once at each end, because processes come and go mid-run (Django reopens
    its database connection every CONN_MAX_AGE seconds, which replaces the
    PostgreSQL backend). Backends of other databases, someone's test run, count
    as "other" load, not as our cost. Measures nothing off Linux.
    """

    def __init__(
        self, *, server_pid: int, database_url: str, worker_pids: Collection[int] = ()
    ) -> None:
        self.server_pid = server_pid
        #: Celery workers doing the request's deferred work, counted as ours.
        self.worker_pids = frozenset(worker_pids)
        self.database_url = database_url
        self.enabled = Path("/proc/stat").exists()
        #: pid -> (group, CPU ticks) when first and last seen.
        self.first: dict[int, tuple[str, int]] = {}
        self.last: dict[int, tuple[str, int]] = {}
        self.stop = threading.Event()

    def __enter__(self) -> "CpuMeter":
        if self.enabled:
            self.conn = psycopg.connect(self.database_url, autocommit=True)
            self.machine_before = _machine_ticks()
            self.client_before = _client_seconds()
            self.first = self.sample()
            self.last = dict(self.first)
            self.thread = threading.Thread(target=self._run, daemon=True)
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self.stop.set()
            self.thread.join()
            self.last.update(self.sample())
            self.machine = (_machine_ticks() - self.machine_before) / _TICKS
            self.client = _client_seconds() - self.client_before
            self.conn.close()

    def _run(self) -> None:
        while not self.stop.wait(CPU_SAMPLE_INTERVAL):
            self.last.update(self.sample())

    def sample(self) -> dict[int, tuple[str, int]]:
        """Every process we account for, with its group and CPU ticks so far."""
        foreign = {
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity"
                " WHERE datname IS NOT NULL AND datname <> current_database()"
            )
        }
        seen = {}
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit() or int(entry.name) in foreign:
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:  # the process ended while we looked
                continue
            comm = stat[stat.index("(") + 1 : stat.rindex(")")]
            # After the command: state, ppid, ..., utime and stime (fields 14-15 of proc(5)).
            fields = stat[stat.rindex(")") + 2 :].split()
            pid, ppid = int(entry.name), int(fields[1])
            if self.server_pid in (pid, ppid):
                group = "gunicorn"
            elif pid in self.worker_pids:
                group = "celery"
            elif comm == "postgres":
                group = "postgres"
            else:
                continue
            seen[pid] = (group, int(fields[11]) + int(fields[12]))
        return seen

    def used(self) -> dict[str, float]:
        """Seconds per group, plus "other": the rest of the machine's busy time."""
        if not self.enabled:
            return {}
        used = {"gunicorn": 0.0, "postgres": 0.0, "client": self.client}
        if self.worker_pids:
            used["celery"] = 0.0
        for pid, (group, ticks) in self.last.items():
            used[group] += (ticks - self.first.get(pid, (group, 0))[1]) / _TICKS
        used["other"] = max(0.0, self.machine - sum(used.values()))
        return used


def _machine_ticks() -> int:
    """Busy ticks of all cores together since boot: everything but idle and iowait."""
    cpu = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(cpu) - cpu[3] - cpu[4]


def _client_seconds() -> float:
    times = os.times()
    return times.user + times.system


def report(result: dict[str, Any]) -> None:
    batch = result["config"]["batch"]
    print(
        f"Event ingestion: {result['events']:,} events in {result['seconds']} s, "
        f"{result['events_per_second']:,} events/s, p50 {result['batch_ms_p50']} ms, "
        f"p99 {result['batch_ms_p99']} ms per {batch:,}-event batch, "
        f"{result['cpu_us_per_event']} CPU µs/event, other load {result['other_load']:.0%}"
    )
    failed = [name for name, ok in result["checks"].items() if not ok]
    print("  checks: " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))


def main(argv: list[str]) -> int:
    """Run the scenario alone; ``python -m bench`` runs it this way, in a process of
    its own, and reads the JSON line it ends with."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.ingest", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=MAX_BATCH)
    parser.add_argument("--warmup", type=int, default=8, help="uncounted warm-up batches")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--time-limit", type=float, default=600)
    parser.add_argument("--seed", type=int, default=1)
    where_arguments(parser, database="ladder_bench_ingest")
    args = parser.parse_args(argv)
    if not 1 <= args.batch <= MAX_BATCH:
        parser.error(f"--batch: the API takes 1 to {MAX_BATCH} events per request")
    config = IngestConfig(
        server_url=args.server_url,
        database=args.database,
        customers=args.customers,
        events=args.events,
        batch=args.batch,
        warmup_batches=args.warmup,
        clients=args.clients,
        workers=args.workers,
        worker_class=args.worker_class,
        threads=args.threads,
        time_limit=args.time_limit,
        seed=args.seed,
    )
    return finish(run(config), report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
