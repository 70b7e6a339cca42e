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
"""

import http.client
import math
import os
import random
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import Enum
from pathlib import Path
from typing import IO, Any

import orjson
import psycopg
from psycopg import sql

ROOT = Path(__file__).resolve().parent.parent

#: Where the batches go.
BATCH_PATH = "/api/v1/events/batch"
#: Longest we wait for gunicorn to answer its first request.
SERVER_START_TIMEOUT = 60.0
#: One batch taking longer than this is a hung server, not a slow one.
REQUEST_TIMEOUT = 120.0
#: How far back occurred_at goes, like a backfill of the last month.
EVENT_WINDOW = timedelta(days=30)

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


@dataclass(frozen=True)
class Sent:
    events: int
    seconds: float
    #: Seconds per batch, request written to answer read.
    latencies: list[float]
    #: False when the time limit stopped the clients before every batch went out.
    complete: bool


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

    # A file, not a pipe: nobody reads gunicorn's output while it runs, and a
    # full pipe would block its workers.
    with _TempLog() as log:
        server = server_start(config=config, database_url=database_url, log=log.file)
        try:
            server_wait(server=server, log=log)
            send = _Sender(port=server.port, api_key=api_key, clients=config.clients)
            warm = send(warmup, time_limit=REQUEST_TIMEOUT * max(1, len(warmup)))
            with CpuMeter(server_pid=server.process.pid, database_url=database_url) as meter:
                sent = send(measured, time_limit=config.time_limit)
            cpu = meter.used()
            checks = verify(
                send=send, resend=measured[0], expected=warm.events + sent.events, size=config.batch
            )
        except Exception:
            sys.stderr.write(log.tail())
            raise
        finally:
            server_stop(server.process)

    if not sent.events:
        raise RuntimeError(f"no batch was answered within the {config.time_limit:.0f}s limit")
    latencies_ms = sorted(1000 * s for s in sent.latencies)
    ours = sum(seconds for name, seconds in cpu.items() if name != "other")
    return {
        "scenario": "ingest",
        "events": sent.events,
        "seconds": round(sent.seconds, 3),
        "events_per_second": round(sent.events / sent.seconds),
        "batch_ms_p50": round(_percentile(latencies_ms, 50), 1),
        "batch_ms_p99": round(_percentile(latencies_ms, 99), 1),
        "batch_ms_max": round(latencies_ms[-1], 1),
        "complete": sent.complete,
        "warmup_events": warm.events,
        "cpu_seconds_per_1000_events": {
            name: round(1000 * seconds / sent.events, 3) for name, seconds in cpu.items()
        },
        # What one event costs us (gunicorn + PostgreSQL + client), whoever else
        # shares the machine: the figure to compare between commits.
        "cpu_us_per_event": round(1e6 * ours / sent.events, 1) if cpu else None,
        # Share of all cores that other processes took during the run.
        "other_load": round(cpu["other"] / (sent.seconds * (os.cpu_count() or 1)), 2)
        if cpu
        else None,
        "checks": checks,
        "config": {
            "customers": config.customers,
            "batch": config.batch,
            "clients": config.clients,
            "workers": config.workers,
            "worker_class": config.worker_class,
            "threads": config.threads if config.worker_class == "gthread" else 1,
            "seed": config.seed,
            "database": config.database,
        },
    }


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


# --- The server -------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    process: subprocess.Popen
    port: int


def server_start(*, config: IngestConfig, database_url: str, log: IO[bytes]) -> Server:
    """gunicorn on a free loopback port, configured as a production deployment would be."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "LADDER_ENV": "development",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    # No broker, whatever the shell has: kicked tasks run in-process, so the
    # work they do is measured on these same cores instead of piling up in a
    # queue nobody drains during the run.
    env.pop("CELERY_BROKER_URL", None)
    command = [
        sys.executable, "-m", "gunicorn", "config.wsgi",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(config.workers),
        "--worker-class", config.worker_class,
        "--log-level", "warning",
    ]  # fmt: skip
    if config.worker_class == "gthread":
        # Passed only here: gunicorn turns a sync worker with threads into gthread.
        command += ["--threads", str(config.threads)]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    return Server(process=process, port=port)


def server_wait(*, server: Server, log: "_TempLog") -> None:
    """Return once gunicorn answers any request; fail if it exits first."""
    deadline = time.monotonic() + SERVER_START_TIMEOUT
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.process.returncode}:\n{log.tail()}")
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
        try:
            conn.request("GET", "/api/v1/openapi.json")
            conn.getresponse().read()
            return
        except OSError:
            time.sleep(0.1)
        finally:
            conn.close()
    raise RuntimeError(f"gunicorn did not answer within {SERVER_START_TIMEOUT:.0f}s")


def server_stop(server: subprocess.Popen) -> None:
    """Stop gunicorn and its workers: gracefully, then for good."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


class _TempLog:
    """gunicorn's output, kept to be shown when something fails."""

    def __enter__(self) -> "_TempLog":
        self.file = tempfile.TemporaryFile()
        return self

    def __exit__(self, *exc: object) -> None:
        self.file.close()

    def tail(self, size: int = 4000) -> str:
        self.file.flush()
        self.file.seek(max(0, self.file.tell() - size))
        return self.file.read().decode(errors="replace")


# --- The client -------------------------------------------------------------


class _Sender:
    """Send bodies from ``clients`` threads, each with its own keep-alive connection."""

    def __init__(self, *, port: int, api_key: str, clients: int) -> None:
        self.port = port
        self.clients = clients
        self.headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    def post(self, conn: http.client.HTTPConnection, body: bytes) -> tuple[int, dict[str, Any]]:
        conn.request("POST", BATCH_PATH, body, self.headers)
        response = conn.getresponse()
        answer = response.read()
        try:
            return response.status, orjson.loads(answer)
        except orjson.JSONDecodeError:
            return response.status, {"body": answer[:500].decode(errors="replace")}

    def __call__(self, bodies: list[bytes], *, time_limit: float) -> Sent:
        deadline = time.monotonic() + time_limit
        latencies: list[list[float]] = [[] for _ in range(self.clients)]
        accepted = [0] * self.clients
        errors: list[str] = []

        def client(index: int) -> None:
            # http.client reconnects by itself when a sync worker closes the connection.
            conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=REQUEST_TIMEOUT)
            try:
                for body in bodies[index :: self.clients]:
                    if errors or time.monotonic() > deadline:
                        return
                    started = time.perf_counter()
                    status, answer = self.post(conn, body)
                    latencies[index].append(time.perf_counter() - started)
                    if status != 202 or answer.get("duplicates") != 0:
                        errors.append(f"HTTP {status}: {answer}")
                        return
                    accepted[index] += answer["accepted"]
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{type(exc).__name__}: {exc}")
            finally:
                conn.close()

        threads = [threading.Thread(target=client, args=(i,)) for i in range(self.clients)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - started
        if errors:
            raise RuntimeError(f"{len(errors)} client(s) failed; first: {errors[0]}")
        done = [lat for per_client in latencies for lat in per_client]
        return Sent(
            events=sum(accepted),
            seconds=seconds,
            latencies=done,
            complete=len(done) == len(bodies),
        )


def verify(*, send: _Sender, resend: bytes, expected: int, size: int) -> dict[str, Any]:
    """Every accepted event is one row, and a retried batch stores nothing twice."""
    from customers.models import Event

    stored = Event.objects.count()
    if stored != expected:
        raise RuntimeError(f"{expected} events were accepted but {stored} rows are stored")
    conn = http.client.HTTPConnection("127.0.0.1", send.port, timeout=REQUEST_TIMEOUT)
    try:
        status, answer = send.post(conn, resend)
    finally:
        conn.close()
    if status != 202 or answer != {"accepted": 0, "duplicates": size}:
        raise RuntimeError(f"re-sending a batch answered HTTP {status}: {answer}")
    after = Event.objects.count()
    if after != stored:
        raise RuntimeError(f"re-sending a batch added {after - stored} rows")
    return {"rows": stored, "resent_batch": answer}


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

    def __init__(self, *, server_pid: int, database_url: str) -> None:
        self.server_pid = server_pid
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


def _percentile(ordered: list[float], pct: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    return ordered[max(1, math.ceil(pct / 100 * len(ordered))) - 1]
