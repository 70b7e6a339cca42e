"""Delivery benchmark: queued deliveries sent end to end, Ladder against the alternatives.

Every path sends the same personalized newsletter (tests/campaigns/samples.py:
about 5 KB of HTML with a loop over the customer's last purchases,
conditionals on their attributes, tracked links, a generated text part) to
the customers of a seeded PostgreSQL database, and every run is checked.

Paths, run interleaved (A, B, C, D, E, A, B, …) for ``--rounds`` rounds:

* **batch** — Ladder: two ``celery worker`` processes (solo pool, one per
  core) run ``campaigns.tasks.deliveries_dispatch`` (claim, re-check consent,
  render, hand over, record) through ``campaigns.backends.postmark_batch``
  (500 messages per HTTP call) to a local Postmark sink.
* **per-message** — the same, through anymail's Postmark backend: one call
  per message.
* **naive** — one Celery task per email that loads, renders, sends (a new
  connection each) and saves (bench/naive.py), on the same two workers.
* **post-office** — django-post-office: the same rendered emails queued with
  ``mail.send_many`` by the two workers, then ``send_queued_mail
  --processes 2`` through anymail's Postmark backend (bench/post_office_run.py).
* **embedded** — the bare-machine default: SQLite, no broker, one ``.eml``
  file per message, sent as ``send_deliveries --processes 2`` sends: two
  processes (one per core, as the other paths have two workers) each running
  ``dispatch_until()``.

The clock runs from the first task sent to the last delivery recorded (the
largest ``updated_at``). Each run checks: one delivery row per customer; every
consented customer SENT and everyone else SKIPPED; the sink (or the outbox)
received exactly the sent messages, no delivery id or recipient twice, nothing
for a customer without consent; the subject each got matches their variant;
the A/B split within ±2% of 50/50 (or three standard errors on small runs).

Also measured in the same run: ``render_email`` alone on one core (the
ceiling: Ladder cannot send faster than it renders), peak memory of every
worker process, and the CPU each group of processes used per message.

    python -m bench.delivery --quick
    python -m bench.delivery                      # 100,000 deliveries, 3 rounds
    python -m bench.delivery --paths batch,per-message --rounds 1
"""

import argparse
import json
import math
import os
import platform
import random
import re
import shlex
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from email.utils import parseaddr
from enum import Enum
from pathlib import Path
from typing import Any

from bench.cli import positive, server_url_argument

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"

#: The message every path sends, with two variants whose subjects differ.
MESSAGE_KEY = "bench-newsletter"
#: variant -> (subject, a phrase only its rendered subject contains)
VARIANTS = {
    "A": ("{{ customer.first_name }}, your picks are in", "your picks are in"),
    "B": ("{{ customer.first_name or 'Hello' }}: the spring sale ends Sunday", "sale ends Sunday"),
}
#: Share of customers with email consent granted; of the rest, half withdrew
#: and half never had a consent row.
CONSENT_SHARE = 0.95
#: Purchases per customer (the template loops over them) and page views (which
#: its loop filters out).
PURCHASES = 4
PAGE_VIEWS = 1
#: Products in the catalogue: tracked links are stored per variant and URL, as
#: a shop's product pages would be.
CATALOGUE = 300

FIRST_NAMES = (
    "Ada", "Grace", "Alan", "Margaret", "Linus", "Zoë", "José", "Amélie", "Katherine", "Dennis",
    "Barbara", "Ken", "Frances", "Edsger", "Radia", "Tim", "Hedy", "Guido", "Sophie", "Niklaus",
)  # fmt: skip
LAST_NAMES = (
    "Lovelace", "Hopper", "Turing", "Hamilton", "Torvalds", "Müller", "García", "Dubois",
    "Johnson", "Ritchie", "Liskov", "Thompson", "Allen", "Dijkstra", "Perlman", "Berners-Lee",
)  # fmt: skip
CITIES = ("Paris", "Berlin", "Lisbon", "Madrid", "Rome", "Vienna", "Dublin", "Oslo")
TIME_ZONES = ("Europe/Paris", "Europe/Berlin", "Europe/Lisbon", "America/New_York", "Asia/Tokyo")
STAGES = ("prospect", "customer", "repeat", "loyal", "advocate")

PATHS = ("batch", "per-message", "naive", "post-office", "embedded")
LADDER_PATHS = ("batch", "per-message")
#: path -> EMAIL_BACKEND of its senders
BACKENDS = {
    "batch": "campaigns.backends.postmark_batch.EmailBackend",
    "per-message": "anymail.backends.postmark.EmailBackend",
    "naive": "anymail.backends.postmark.EmailBackend",
    "post-office": "anymail.backends.postmark.EmailBackend",
}
#: path -> DJANGO_SETTINGS_MODULE of its workers
SETTINGS = {
    "batch": "config.settings",
    "per-message": "config.settings",
    "naive": "bench.naive_settings",
    "post-office": "bench.post_office_settings",
}

#: Sizes of a full run and of the --quick smoke run; explicit flags win.
FULL = {
    "customers": 100_000,
    "deliveries": 100_000,
    "naive": 3_000,
    "post_office": 10_000,
    "embedded": 100_000,
    "rounds": 3,
}
QUICK = {
    "customers": 2_000,
    "deliveries": 2_000,
    "naive": 500,
    "post_office": 1_000,
    "embedded": 2_000,
    "rounds": 1,
}
#: The issue's targets (messages/s at the full size) and ratios.
TARGETS = {"per-message": 800, "batch": 5_000, "embedded": 2_000}
RATIO_TARGET = 10

#: Seconds between two looks at the database while a run is going.
POLL = 0.2
#: A run whose work has not moved for this long has failed (a worker raising on
#: every task, say); it stops with the tail of the worker logs.
STALL_SECONDS = 60


def log(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


# --- Seeding (PostgreSQL with COPY, SQLite with executemany) ----------------


def rows_insert(model, rows: Iterable[dict[str, Any]]) -> int:
    """Insert rows given as {field name: value}; fields left out take the model's
    default. COPY on PostgreSQL, executemany on SQLite."""
    from django.db import connection
    from psycopg import sql

    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    defaults = {f.name: f.get_default() for f in fields}

    def prepared(row: dict[str, Any]) -> list:
        values = []
        for f in fields:
            value = f.get_db_prep_save(row.get(f.name, defaults[f.name]), connection)
            # psycopg writes an Enum by its name; the column wants the choice's value.
            values.append(value.value if isinstance(value, Enum) else value)
        return values

    count = 0
    if connection.vendor == "postgresql":
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(model._meta.db_table),
            sql.SQL(", ").join(sql.Identifier(f.column) for f in fields),
        )
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(prepared(row))
                count += 1
        return count
    quote = connection.ops.quote_name
    statement = "INSERT INTO {} ({}) VALUES ({})".format(
        quote(model._meta.db_table),
        ", ".join(quote(f.column) for f in fields),
        ", ".join(["%s"] * len(fields)),
    )
    batch: list[list] = []
    with connection.cursor() as cursor:
        for row in rows:
            batch.append(prepared(row))
            if len(batch) == 5000:
                cursor.executemany(statement, batch)
                count += len(batch)
                batch = []
        if batch:
            cursor.executemany(statement, batch)
            count += len(batch)
    return count


def _customers(count: int, rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    from customers.models import address_hash

    for n in range(1, count + 1):
        email = f"customer{n:07d}@bench.test"
        attributes: dict[str, Any] = {"favourite_category": rng.choice(("books", "prints"))}
        if rng.random() < 0.6:
            attributes["city"] = rng.choice(CITIES)
        if rng.random() < 0.1:
            attributes["vip"] = True
        orders = rng.randint(1, 25)
        yield {
            "email": email,
            "email_hash": address_hash(email),
            # One in twenty has no first name: the template says "there".
            "first_name": "" if rng.random() < 0.05 else rng.choice(FIRST_NAMES),
            "last_name": rng.choice(LAST_NAMES),
            "locale": "en",
            "time_zone": rng.choice(TIME_ZONES),
            "attributes": attributes,
            "stage": rng.choice(STAGES),
            "stage_changed_at": now,
            "orders_count": orders,
            "revenue": Decimal(orders * 31),
            "clv": Decimal(orders * 45),
            "last_purchase_at": now - timedelta(days=rng.randint(1, 30)),
            "engagement_score": round(rng.random(), 3),
            "created_at": now,
            "updated_at": now,
        }


def _events(ids: list[int], rng: random.Random, now: datetime) -> Iterator[dict[str, Any]]:
    for customer_id in ids:
        for k in range(PURCHASES + PAGE_VIEWS):
            product = rng.randrange(CATALOGUE)
            row: dict[str, Any] = {
                "customer": customer_id,
                "occurred_at": now - timedelta(seconds=rng.randint(3600, 30 * 86400)),
                "received_at": now,
                "idempotency_key": f"bench-{customer_id}-{k}",
                "routed_at": now,
            }
            if k < PURCHASES:
                row.update(
                    name="purchase",
                    properties={
                        "product": f"Book number {product}",
                        "sku": f"BK-{product:04d}",
                        "url": f"https://shop.example.com/p/{product}",
                    },
                    value=Decimal(rng.randint(500, 8000)) / 100,
                    currency="EUR",
                )
            else:
                row.update(
                    name="page_view",
                    properties={"url": f"https://shop.example.com/p/{product}"},
                )
            yield row


def consented(customer_id: int, seed: int) -> str | None:
    """The consent a customer gets: granted, withdrawn or none (deterministic)."""
    draw = random.Random(f"{seed}:{customer_id}").random()
    if draw < CONSENT_SHARE:
        return "granted"
    return "withdrawn" if draw < (1 + CONSENT_SHARE) / 2 else None


def seed(*, customers: int, seed: int) -> dict[str, Any]:
    """Customers, their consents and recent events, and the message with two variants."""
    from django.db import connection

    from campaigns.models import Message, Variant
    from customers.models import Consent, Customer, Event, Topic
    from tests.campaigns.samples import NEWSLETTER_HTML, NEWSLETTER_PREHEADER

    started = time.perf_counter()
    rng = random.Random(seed)
    now = datetime.now(UTC)
    rows_insert(Customer, _customers(customers, rng, now))
    ids = list(Customer.objects.order_by("id").values_list("id", flat=True))
    topic = Topic.objects.get(key="email_marketing")
    consents = (
        {"customer": i, "topic": topic.pk, "status": status, "text_version": "bench"}
        for i in ids
        if (status := consented(i, seed)) is not None
    )
    rows_insert(Consent, consents)
    events = rows_insert(Event, _events(ids, rng, now))
    message = Message.objects.create(key=MESSAGE_KEY, name="Bench newsletter", topic=topic)
    for key, (subject, _) in VARIANTS.items():
        Variant.objects.create(
            message=message,
            key=key,
            weight=50,
            subject=subject,
            preheader=NEWSLETTER_PREHEADER,
            html_body=NEWSLETTER_HTML,
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return {
        "customers": len(ids),
        "consented": Consent.objects.filter(status="granted").count(),
        "events": events,
        "seed_seconds": round(time.perf_counter() - started, 1),
    }


def deliveries_requeue(count: int) -> list[int]:
    """Empty the outbox and queue the message for the first ``count`` customers,
    through ``deliveries_queue`` (variants picked as production picks them)."""
    from django.db import connection

    from campaigns.models import Delivery
    from campaigns.services import DeliveryRequest, deliveries_queue
    from customers.models import Customer

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # CASCADE: clicks, conversions and whatever else comes to point at deliveries.
            cursor.execute("TRUNCATE campaigns_delivery CASCADE")
    else:
        Delivery.objects.all().delete()
    customer_ids = list(Customer.objects.order_by("id").values_list("id", flat=True)[:count])
    requests = [
        DeliveryRequest(customer_id=i, message_key=MESSAGE_KEY, journey_key="bench-delivery")
        for i in customer_ids
    ]
    deliveries_queue(requests=requests, at=datetime.now(UTC))
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE campaigns_delivery")
    return list(Delivery.objects.order_by("id").values_list("id", flat=True))


# --- Checks -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Expected:
    email: str
    consented: bool
    variant: str


@dataclass(frozen=True, slots=True)
class Received:
    email: str
    variant: str | None
    delivery_id: int | None


_LADDER_MESSAGE_ID = re.compile(r"<ladder\.(\d+)\.")


def received_message(to: str, subject: str, delivery_id: object, message_id: str | None):
    """One message as the sink (or the outbox) had it."""
    if delivery_id is None and message_id:
        match = _LADDER_MESSAGE_ID.search(message_id)
        delivery_id = match[1] if match else None
    subject = subject or ""
    variant = next((key for key, (_, phrase) in VARIANTS.items() if phrase in subject), None)
    return Received(
        email=parseaddr(to or "")[1].lower(),
        variant=variant,
        delivery_id=int(delivery_id) if delivery_id is not None else None,
    )


def expectations() -> dict[int, Expected]:
    """Delivery id -> who should get what, for every queued delivery."""
    from campaigns.models import Delivery
    from customers.models import Consent

    granted = set(Consent.objects.filter(status="granted").values_list("customer_id", flat=True))
    return {
        pk: Expected(email=email, consented=customer_id in granted, variant=variant)
        for pk, customer_id, email, variant in Delivery.objects.values_list(
            "id", "customer_id", "customer__email", "variant__key"
        )
    }


def statuses() -> dict[int, str]:
    from campaigns.models import Delivery

    return dict(Delivery.objects.values_list("id", "status"))


def split_tolerance(sent: int) -> float:
    """±2% at full size; three standard errors of a 50/50 share when the run is
    too small for 2% to be meaningful (2,000 sends: ±3.4%)."""
    return max(0.02, 3 * math.sqrt(0.25 / max(1, sent)))


def verify(
    *,
    expected: dict[int, Expected],
    status: dict[int, str] | None,
    received: list[Received],
    rows_per_customer_ok: bool = True,
) -> dict[str, Any]:
    """The correctness checks every run must pass. ``status`` is None when the
    path keeps no status on the deliveries (post_office keeps its own rows)."""
    should = {pk for pk, e in expected.items() if e.consented}
    checks: dict[str, Any] = {"one_row_per_customer": rows_per_customer_ok}
    if status is not None:
        sent = {pk for pk, s in status.items() if s == "sent"}
        skipped = {pk for pk, s in status.items() if s == "skipped"}
        checks["one_row_per_customer"] = rows_per_customer_ok and set(status) == set(expected)
        checks["consented_sent_others_skipped"] = sent == should and skipped == (
            set(expected) - should
        )
    else:
        sent = should
    ids = [r.delivery_id for r in received]
    emails = [r.email for r in received]
    refused = {e.email for e in expected.values() if not e.consented}
    checks["sink_has_exactly_the_sent"] = len(received) == len(sent) and set(ids) == sent
    checks["no_duplicate_delivery"] = None not in ids and len(set(ids)) == len(ids)
    checks["no_duplicate_recipient"] = len(set(emails)) == len(emails)
    checks["nothing_without_consent"] = not (set(emails) & refused)
    checks["subject_matches_variant"] = all(
        r.delivery_id in expected and r.variant == expected[r.delivery_id].variant for r in received
    )
    share = sum(expected[pk].variant == "A" for pk in sent) / max(1, len(sent))
    tolerance = split_tolerance(len(sent))
    checks["split_within_tolerance"] = abs(share - 0.5) <= tolerance
    return {
        "passed": all(checks.values()),
        "checks": checks,
        "sent": len(sent),
        "skipped": len(expected) - len(should),
        "received": len(received),
        "split_a_share": round(share, 4),
        "split_tolerance": round(tolerance, 4),
    }


def rows_per_customer_ok() -> bool:
    from django.db.models import Count

    from campaigns.models import Delivery

    counts = Delivery.objects.values("customer_id").annotate(n=Count("id")).values_list("n")
    return not counts.exclude(n=1).exists()


# --- Measuring --------------------------------------------------------------

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: int | str) -> tuple[str, int, int, int] | None:
    """(command, parent pid, own CPU ticks, reaped children's CPU ticks) from /proc."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    comm = text[text.index("(") + 1 : text.rindex(")")]
    fields = text[text.rindex(")") + 2 :].split()
    own, reaped = int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14])
    return comm, int(fields[1]), own, reaped


def _machine_ticks() -> int:
    cpu = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return sum(cpu) - cpu[3] - cpu[4]


class CpuMeter:
    """CPU seconds per group of processes while it runs, and what others took.

    Groups are named by their root processes (workers, the sink): a root's own
    CPU, its reaped children's and its live children's. A child that ended
    and was reaped counts once, in its root's reaped CPU, not also as last
    seen alive. PostgreSQL backends count as "postgres" unless they serve
    another database (someone's test run is "other"). Sampled twice a
    second, since processes come and go.
    """

    def __init__(self, database: str, server_url: str) -> None:
        self.database = database
        self.server_url = server_url
        self.roots: dict[int, str] = {}
        self.root_first: dict[int, int] = {}
        self.root_last: dict[int, int] = {}
        self.child_first: dict[int, tuple[str, int]] = {}
        self.child_last: dict[int, tuple[str, int]] = {}
        #: Children of roots, and those of them alive at the latest sample.
        self.root_children: set[int] = set()
        self.alive: set[int] = set()
        self.stop = threading.Event()
        self.lock = threading.Lock()

    def watch(self, pid: int, group: str) -> None:
        with self.lock:
            self.roots[pid] = group
            stat = _stat(pid)
            if stat is not None:
                self.root_first[pid] = self.root_last[pid] = stat[2] + stat[3]

    def __enter__(self) -> "CpuMeter":
        import psycopg

        self.conn = psycopg.connect(f"{self.server_url.rstrip('/')}/postgres", autocommit=True)
        self.machine_before = _machine_ticks()
        times = os.times()
        self.own_before = times.user + times.system
        self.started = time.perf_counter()
        self._sample(first=True)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()
        self.seconds = time.perf_counter() - self.started
        self.machine = (_machine_ticks() - self.machine_before) / _TICKS
        times = os.times()
        self.own = times.user + times.system - self.own_before
        self.conn.close()

    def _run(self) -> None:
        while not self.stop.wait(0.5):
            self._sample()

    def _sample(self, first: bool = False) -> None:
        foreign = {
            pid
            for (pid,) in self.conn.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> %s",
                [self.database],
            )
        }
        with self.lock:
            self.alive = set()
            for entry in os.listdir("/proc"):
                if not entry.isdigit():
                    continue
                pid = int(entry)
                stat = _stat(pid)
                if stat is None:
                    continue
                comm, ppid, own, reaped = stat
                if pid in self.roots:
                    self.root_last[pid] = own + reaped
                    self.root_first.setdefault(pid, own + reaped)
                    continue
                if ppid in self.roots:
                    group = self.roots[ppid]
                    self.root_children.add(pid)
                    self.alive.add(pid)
                elif comm == "postgres" and pid not in foreign:
                    group = "postgres"
                elif comm.startswith("redis-server"):
                    group = "redis"
                else:
                    continue
                self.child_last[pid] = (group, own)
                if first:
                    self.child_first[pid] = (group, own)
                elif pid not in self.child_first:
                    # Born after the start: all its CPU was used during the run.
                    self.child_first[pid] = (group, 0)

    def used(self) -> dict[str, float]:
        """CPU seconds per group, "bench" (this process) and "other"."""
        used: dict[str, float] = {"bench": self.own}
        for pid, group in self.roots.items():
            if pid in self.root_last:
                delta = (self.root_last[pid] - self.root_first.get(pid, 0)) / _TICKS
                used[group] = used.get(group, 0.0) + delta
        for pid, (group, ticks) in self.child_last.items():
            if pid in self.root_children and pid not in self.alive:
                continue  # ended: its root's reaped CPU has all of it
            delta = (ticks - self.child_first.get(pid, (group, 0))[1]) / _TICKS
            used[group] = used.get(group, 0.0) + delta
        used["other"] = max(0.0, self.machine - sum(used.values()))
        return {name: round(value, 2) for name, value in used.items()}


def peak_rss_mb(pid: int) -> float:
    """VmHWM: the most memory the process ever held resident."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


def cpu_per_message(used: dict[str, float], messages: int) -> dict[str, float]:
    return {name: round(1e6 * s / max(1, messages)) for name, s in used.items()}


# --- The runs ---------------------------------------------------------------


@dataclass
class Bench:
    """What every run needs: where things are and how to start workers."""

    args: argparse.Namespace
    database_url: str
    sink: Any  # bench.sinks.postmark.SinkClient
    sink_pid: int
    logs: Path
    workdir: Path

    def env(self, path: str) -> dict[str, str]:
        """The environment of a path's worker processes."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("ANYMAIL_")}
        env.update(
            DATABASE_URL=self.database_url,
            CELERY_BROKER_URL=self.args.broker,
            DJANGO_SETTINGS_MODULE=SETTINGS[path],
            DEBUG="false",
            LOG_LEVEL="WARNING",
            LADDER_FREQUENCY_CAP_PER_DAY="0",
            LADDER_FREQUENCY_CAP_PER_WEEK="0",
            LADDER_QUIET_HOURS="",
            LADDER_SEND_RATE="0",
            EMAIL_BACKEND=BACKENDS[path],
            # Dispatch tags every email with the message key *and* the variant;
            # Postmark takes one tag, and anymail refuses the email otherwise
            # (every delivery FAILED). Keep the first tag, as a Postmark user must.
            ANYMAIL_IGNORE_UNSUPPORTED_FEATURES="true",
            ANYMAIL_POSTMARK_SERVER_TOKEN=self.args.token,
            ANYMAIL_POSTMARK_API_URL=self.sink.url,
        )
        return env

    def workers_start(self, path: str, queue: str) -> list[subprocess.Popen]:
        from config.workers import worker_start

        return [
            worker_start(
                hostname=f"bench{n}-{queue}@localhost",
                queue=queue,
                env=self.env(path),
                log=self.logs / f"{path}-worker{n}.log",
            )
            for n in range(self.args.workers)
        ]

    def workers_stop(self, processes: list[subprocess.Popen], queue: str) -> None:
        import redis

        from config.workers import workers_stop

        workers_stop(processes, timeout=60)
        # Tasks left over (the top-ups nobody needed) must not reach a later run.
        redis.Redis.from_url(self.args.broker).delete(queue, f"_kombu.binding.{queue}")

    def meter(self) -> CpuMeter:
        meter = CpuMeter(self.args.database, self.args.server_url)
        meter.watch(self.sink_pid, "sink")
        return meter

    def received(self) -> list[Received]:
        return [received_message(*row) for row in self.sink.snapshot()["summaries"]]


def _last_update(started_wall: float) -> float:
    """Seconds from ``started_wall`` to the last delivery recorded."""
    from django.db.models import Max

    from campaigns.models import Delivery

    last = Delivery.objects.aggregate(last=Max("updated_at"))["last"]
    return last.timestamp() - started_wall


class Stall:
    """Raises when ``check`` sees the same value for ``STALL_SECONDS``."""

    def __init__(self, logs: list[Path]) -> None:
        self.logs = logs
        self.value: object = None
        self.since = self.looked = time.monotonic()

    def check(self, value_of) -> None:
        now = time.monotonic()
        if now - self.looked < 5:
            return
        self.looked = now
        value = value_of()
        if value != self.value:
            self.value, self.since = value, now
        elif now - self.since > STALL_SECONDS:
            tails = "\n".join(f"--- {log}\n{log.read_text()[-2500:]}" for log in self.logs)
            raise RuntimeError(f"no progress for {STALL_SECONDS} s ({value} left)\n{tails}")


def _remaining() -> int:
    from campaigns.models import Delivery

    return Delivery.objects.filter(
        status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING)
    ).count()


def _pending() -> bool:
    from campaigns.models import Delivery

    return Delivery.objects.filter(
        status__in=(Delivery.Status.QUEUED, Delivery.Status.SENDING)
    ).exists()


def ladder_run(bench: Bench, path: str, count: int) -> dict[str, Any]:
    """Two workers dispatch ``count`` queued deliveries through ``path``'s backend."""
    import redis

    from config.celery import app

    deliveries_requeue(count)
    expected = expectations()
    bench.sink.reset()
    queue = f"bench-delivery-{uuid.uuid4().hex[:8]}"
    processes = bench.workers_start(path, queue)
    broker = redis.Redis.from_url(bench.args.broker)
    workers = len(processes)
    stall = Stall([bench.logs / f"{path}-worker{n}.log" for n in range(workers)])
    complete = True
    try:
        with bench.meter() as meter:
            for process in processes:
                meter.watch(process.pid, "workers")
            started_wall, started = time.time(), time.perf_counter()
            # Each task sends for up to 50 s (DISPATCH_BUDGET_SECONDS), then
            # ends; beat would send more. Keep two waiting per worker instead.
            for _ in range(2 * workers):
                app.send_task("campaigns.tasks.deliveries_dispatch", queue=queue)
            while _pending():
                if time.perf_counter() - started > bench.args.time_limit:
                    complete = False
                    break
                stall.check(_remaining)
                if broker.llen(queue) < workers:
                    for _ in range(workers):
                        app.send_task("campaigns.tasks.deliveries_dispatch", queue=queue)
                time.sleep(POLL)
        peaks = [peak_rss_mb(p.pid) for p in processes]
    finally:
        bench.workers_stop(processes, queue)
    seconds = _last_update(started_wall)
    result = verify(
        expected=expected,
        status=statuses(),
        received=bench.received(),
        rows_per_customer_ok=rows_per_customer_ok(),
    )
    return _result(path, count, seconds, result, meter, peaks, complete)


def naive_run(bench: Bench, count: int) -> dict[str, Any]:
    """One task per delivery, on the same two workers."""
    from config.celery import app

    ids = deliveries_requeue(count)
    expected = expectations()
    bench.sink.reset()
    queue = f"bench-delivery-{uuid.uuid4().hex[:8]}"
    processes = bench.workers_start("naive", queue)
    stall = Stall([bench.logs / f"naive-worker{n}.log" for n in range(len(processes))])
    complete = True
    try:
        with bench.meter() as meter:
            for process in processes:
                meter.watch(process.pid, "workers")
            started_wall, started = time.time(), time.perf_counter()
            with app.producer_or_acquire() as producer:
                for pk in ids:
                    app.send_task(
                        "bench.naive.naive_send", args=[pk], queue=queue, producer=producer
                    )
            published = time.perf_counter() - started
            while _pending():
                if time.perf_counter() - started > bench.args.time_limit:
                    complete = False
                    break
                stall.check(_remaining)
                time.sleep(POLL)
        peaks = [peak_rss_mb(p.pid) for p in processes]
    finally:
        bench.workers_stop(processes, queue)
    seconds = _last_update(started_wall)
    result = verify(
        expected=expected,
        status=statuses(),
        received=bench.received(),
        rows_per_customer_ok=rows_per_customer_ok(),
    )
    answer = _result("naive", count, seconds, result, meter, peaks, complete)
    answer["publish_seconds"] = round(published, 2)
    return answer


def post_office_run(bench: Bench, count: int) -> dict[str, Any]:
    """post_office: queue on the two workers, then ``send_queued_mail --processes 2``."""
    from django.db import connection

    from config.celery import app

    ids = deliveries_requeue(count)
    expected = expectations()
    should = sum(e.consented for e in expected.values())
    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE post_office_email CASCADE")
    bench.sink.reset()
    queue = f"bench-delivery-{uuid.uuid4().hex[:8]}"
    processes = bench.workers_start("post-office", queue)
    stall = Stall([bench.logs / f"post-office-worker{n}.log" for n in range(len(processes))])
    complete = True

    def queued() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM post_office_email")
            return cursor.fetchone()[0]

    try:
        with bench.meter() as meter:
            for process in processes:
                meter.watch(process.pid, "workers")
            started_wall, started = time.time(), time.perf_counter()
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                app.send_task(
                    "bench.post_office_run.post_office_queue",
                    args=[chunk[0], chunk[-1]],
                    queue=queue,
                )
            while queued() < should:
                if time.perf_counter() - started > bench.args.time_limit:
                    complete = False
                    break
                stall.check(queued)
                time.sleep(POLL)
            with connection.cursor() as cursor:
                cursor.execute("SELECT extract(epoch FROM max(created)) FROM post_office_email")
                queue_seconds = float(cursor.fetchone()[0]) - started_wall
            peaks = [peak_rss_mb(p.pid) for p in processes]
            bench.workers_stop(processes, queue)
            processes = []

            send_started = time.perf_counter()
            send_command = [
                sys.executable, "-m", "bench.post_office_run", "send",
                "--processes", str(bench.args.workers),
                "--lockfile", str(bench.workdir / "post-office"),
            ]  # fmt: skip
            sender = subprocess.Popen(
                send_command,
                cwd=ROOT,
                env=bench.env("post-office"),
                stdout=subprocess.PIPE,
                stderr=open(bench.logs / "post-office-send.log", "w"),  # noqa: SIM115
                text=True,
            )
            meter.watch(sender.pid, "workers")
            out, _ = sender.communicate(timeout=bench.args.time_limit)
            send_wall = time.perf_counter() - send_started
    finally:
        if processes:
            bench.workers_stop(processes, queue)
    if sender.returncode != 0:
        raise RuntimeError(
            f"send_queued_mail failed:\n{(bench.logs / 'post-office-send.log').read_text()[-3000:]}"
        )
    send = json.loads(out.strip().splitlines()[-1])
    with connection.cursor() as cursor:
        cursor.execute("SELECT status, count(*) FROM post_office_email GROUP BY status")
        by_status = dict(cursor.fetchall())
    result = verify(expected=expected, status=None, received=bench.received())
    # post_office's own rows: one per consented customer, every one sent (status 0).
    result["checks"]["one_row_per_customer"] = by_status == {0: should}
    result["passed"] = all(result["checks"].values())
    seconds = queue_seconds + send["seconds"]
    answer = _result("post-office", count, seconds, result, meter, peaks, complete)
    answer.update(
        queue_seconds=round(queue_seconds, 2),
        send_seconds=send["seconds"],
        send_process_seconds=round(send_wall, 2),
        queue_per_second=round(result["sent"] / queue_seconds),
        send_per_second=round(result["sent"] / send["seconds"]),
        send_peak_rss_mb=send["peak_rss_mb"],
        post_office_settings={
            "processes": bench.args.workers,
            "BATCH_SIZE": int(os.environ.get("BENCH_POST_OFFICE_BATCH_SIZE", 0)) or "default",
            "THREADS_PER_PROCESS": int(os.environ.get("BENCH_POST_OFFICE_THREADS", 0)) or "default",
        },
    )
    return answer


def embedded_run(bench: Bench, template: Path, round_number: int) -> dict[str, Any]:
    """The bare-machine default, in a process of its own on a copy of the seeded SQLite.

    The child says when ``dispatch_until()`` starts and ends, so the CPU meter
    covers the sending and not the start-up or the checks (reading 95,000
    ``.eml`` files takes a minute or two)."""
    workdir = bench.workdir / f"embedded-{round_number}"
    command = [
        sys.executable, "-m", "bench.delivery_embedded", "run",
        "--template", str(template), "--workdir", str(workdir),
        "--processes", str(bench.args.workers),
    ]  # fmt: skip
    meter = bench.meter()
    child = subprocess.Popen(
        command, cwd=ROOT, env=embedded_env(workdir), stdout=subprocess.PIPE, text=True
    )
    lines = []
    try:
        for line in child.stdout:
            if line.strip() == STARTED:
                meter.__enter__()
                meter.watch(child.pid, "workers")
            elif line.strip() == ENDED:
                meter.__exit__(None, None, None)
            else:
                lines.append(line)
        child.wait(timeout=bench.args.time_limit)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    if child.returncode != 0 or not lines:
        raise RuntimeError(f"the embedded run failed (exit {child.returncode})")
    child_result = json.loads(lines[-1])
    answer = _result(
        "embedded",
        child_result["deliveries"],
        child_result["seconds"],
        child_result["verify"],
        meter,
        [child_result["peak_rss_mb"]],
        True,
    )
    answer["check_seconds"] = child_result["check_seconds"]
    return answer


#: What bench.delivery_embedded prints around the sending.
STARTED, ENDED = "dispatch started", "dispatch ended"


def embedded_env(workdir: Path) -> dict[str, str]:
    """The environment of a process on the embedded default, its var/ in ``workdir``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ANYMAIL_")
        and k not in ("DATABASE_URL", "CELERY_BROKER_URL", "EMAIL_BACKEND", "LADDER_REDIS_URL")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        LADDER_VAR_DIR=str(workdir),
        DEBUG="false",
        LOG_LEVEL="WARNING",
        LADDER_FREQUENCY_CAP_PER_DAY="0",
        LADDER_FREQUENCY_CAP_PER_WEEK="0",
        LADDER_QUIET_HOURS="",
        LADDER_SEND_RATE="0",
    )
    return env


def embedded_seed(bench: Bench) -> tuple[Path, dict[str, Any]]:
    workdir = bench.workdir / "embedded-seed"
    command = [
        sys.executable, "-m", "bench.delivery_embedded", "seed",
        "--customers", str(max(bench.args.embedded, 1)),
        "--deliveries", str(bench.args.embedded),
        "--seed", str(bench.args.seed),
        "--workdir", str(workdir),
    ]  # fmt: skip
    out = subprocess.run(
        command, cwd=ROOT, env=embedded_env(workdir), stdout=subprocess.PIPE, text=True, check=True
    ).stdout
    info = json.loads(out.strip().splitlines()[-1])
    return Path(info["database"]), info


def _result(path, count, seconds, verified, meter, peaks, complete) -> dict[str, Any]:
    sent = verified["sent"]
    used = meter.used()
    ours = sum(v for k, v in used.items() if k != "other")
    return {
        "path": path,
        "deliveries": count,
        "sent": sent,
        "skipped": verified["skipped"],
        "seconds": round(seconds, 2),
        "messages_per_second": round(sent / seconds, 1),
        "deliveries_per_second": round(count / seconds, 1),
        "cpu_seconds": used,
        "cpu_us_per_message": cpu_per_message(used, sent),
        "cpu_us_per_message_ours": round(1e6 * ours / max(1, sent)),
        "other_load": round(used["other"] / (meter.seconds * (os.cpu_count() or 1)), 2),
        "peak_rss_mb": peaks,
        "split_a_share": verified["split_a_share"],
        "split_tolerance": verified["split_tolerance"],
        "checks": verified["checks"],
        "passed": verified["passed"] and complete,
        "complete": complete,
    }


# --- The render ceiling -----------------------------------------------------


def render_ceiling(seconds: float = 2.0) -> dict[str, Any]:
    """``render_email`` of the same template on one core (CPU time), with real
    contexts and tracked links, and the template body alone in plain Jinja2."""
    import jinja2

    from campaigns.context import context_of, customer_dict, recent_events
    from campaigns.dispatch.links import BatchLinks
    from campaigns.models import Message
    from campaigns.rendering import render_email
    from campaigns.tokens import open_pixel_url, preferences_url, unsubscribe_url
    from customers.models import Customer

    message = Message.objects.get(key=MESSAGE_KEY)
    variant = message.variants.get(key="A")
    customers = list(Customer.objects.order_by("id")[:200])
    events = recent_events([c.pk for c in customers])
    contexts = []
    for n, customer in enumerate(customers):
        context = context_of(
            customer_dict(customer),
            events.get(customer.pk, []),
            message_key=message.key,
            variant_key="A",
        )
        context["unsubscribe_url"] = unsubscribe_url(n + 1)
        context["preferences_url"] = preferences_url(customer.pk)
        contexts.append(context)

    def render(links: BatchLinks, n: int, context: dict) -> Any:
        return render_email(
            subject=variant.subject,
            preheader=variant.preheader,
            html=variant.html_body,
            text=variant.text_body,
            context=context,
            track_link=links.tracker(delivery_id=n + 1, variant_id=variant.pk),
            open_pixel_url=open_pixel_url(n + 1),
            unsubscribe_url=context["unsubscribe_url"],
            preferences_url=context["preferences_url"],
        )

    warm = BatchLinks()
    emails = [render(warm, n, c) for n, c in enumerate(contexts)]
    if warm.pending:
        warm.register()  # from here on every link id is known, as in steady state

    def rate(one) -> float:
        done, started = 0, time.process_time()
        while time.process_time() - started < seconds:
            for n, context in enumerate(contexts):
                one(n, context)
            done += len(contexts)
        return done / (time.process_time() - started)

    links = BatchLinks()
    full = rate(lambda n, c: render(links, n, c))
    plain = jinja2.Environment(autoescape=True).from_string(variant.html_body)
    body = rate(lambda n, c: plain.render(c))
    return {
        "render_email_per_second": round(full),
        "render_email_us": round(1e6 / full),
        "jinja2_body_per_second": round(body),
        "jinja2_body_us": round(1e6 / body),
        "html_chars": round(statistics.mean(len(e.html) for e in emails)),
        "text_chars": round(statistics.mean(len(e.text) for e in emails)),
    }


# --- The whole run ----------------------------------------------------------


def setup(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    from bench.ingest import database_recreate

    database_url = f"{args.server_url.rstrip('/')}/{args.database}"
    database_recreate(server_url=args.server_url, database=args.database)
    env = {
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": args.broker,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
        "LADDER_FREQUENCY_CAP_PER_DAY": "0",
        "LADDER_FREQUENCY_CAP_PER_WEEK": "0",
        "LADDER_QUIET_HOURS": "",
    }
    os.environ.update(env)
    for name in [k for k in os.environ if k.startswith("ANYMAIL_")]:
        del os.environ[name]
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    if "post-office" in args.paths:
        # post_office's tables, created with its settings; Ladder's own processes
        # (this one, the Ladder workers) run on config.settings untouched.
        subprocess.run(
            [sys.executable, "manage.py", "migrate", "post_office", "-v0"],
            cwd=ROOT,
            env={**os.environ, "DJANGO_SETTINGS_MODULE": "bench.post_office_settings"},
            check=True,
        )
    seeded = seed(customers=args.customers, seed=args.seed)
    return database_url, seeded


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.delivery_sink import spawn

    started_at = datetime.now(UTC)
    log(f"Seeding {args.customers:,} customers in {args.database} …")
    database_url, seeded = setup(args)
    log(
        f"  {seeded['customers']:,} customers ({seeded['consented']:,} consented), "
        f"{seeded['events']:,} events in {seeded['seed_seconds']} s"
    )
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    rounds: list[dict[str, Any]] = []
    ceilings: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="ladder-bench-delivery-") as tmp,
        spawn(token=args.token) as (sink, sink_pid),
    ):
        bench = Bench(
            args=args,
            database_url=database_url,
            sink=sink,
            sink_pid=sink_pid,
            logs=logs,
            workdir=Path(tmp),
        )
        embedded_info = None
        if "embedded" in args.paths:
            log(f"Seeding the embedded SQLite database ({args.embedded:,} deliveries) …")
            template, embedded_info = embedded_seed(bench)
            log(f"  done in {embedded_info['seed_seconds']} s")
        for number in range(1, args.rounds + 1):
            ceiling = render_ceiling()
            ceilings.append(ceiling)
            log(
                f"Round {number}/{args.rounds}: render_email "
                f"{ceiling['render_email_per_second']:,}/s on one core "
                f"({ceiling['render_email_us']} µs)"
            )
            results: dict[str, Any] = {}
            for path in args.paths:
                if path in LADDER_PATHS:
                    result = ladder_run(bench, path, args.deliveries)
                elif path == "naive":
                    result = naive_run(bench, args.naive)
                elif path == "post-office":
                    result = post_office_run(bench, args.post_office)
                else:
                    result = embedded_run(bench, template, number)
                results[path] = result
                failed = [name for name, ok in result["checks"].items() if not ok]
                log(
                    f"  {path:12} {result['sent']:>7,} sent in {result['seconds']:>7.2f} s: "
                    f"{result['messages_per_second']:>8,.0f} msg/s, "
                    f"{result['cpu_us_per_message_ours']:,} CPU µs/msg, "
                    f"other load {result['other_load']:.0%}"
                    + (f"  FAILED: {', '.join(failed)}" if failed else "  checks passed")
                )
            rounds.append(results)
    return {
        "scenario": "delivery",
        "started_at": started_at.isoformat(timespec="seconds"),
        "config": {
            "customers": args.customers,
            "deliveries": args.deliveries,
            "naive": args.naive,
            "post_office": args.post_office,
            "embedded": args.embedded,
            "rounds": args.rounds,
            "workers": args.workers,
            "paths": args.paths,
            "seed": args.seed,
            "database": args.database,
            "dispatch_batch": int(os.environ.get("LADDER_DISPATCH_BATCH", 500)),
            "dispatch_chunk": int(os.environ.get("LADDER_DISPATCH_CHUNK", 50)),
        },
        "seed": seeded,
        "embedded_seed": embedded_info,
        "rounds": rounds,
        "render_ceiling": ceilings,
        **summarize(rounds, ceilings, args),
    }


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


#: Ratio name -> (numerator path, denominator path)
RATIOS = {
    "batch/naive": ("batch", "naive"),
    "batch/post-office": ("batch", "post-office"),
    "per-message/naive": ("per-message", "naive"),
    "per-message/post-office": ("per-message", "post-office"),
}


def summarize(rounds: list[dict], ceilings: list[dict], args) -> dict[str, Any]:
    paths = [p for p in args.paths if all(p in r for r in rounds)]
    summary = {
        path: {
            name: _spread([r[path][name] for r in rounds])
            for name in ("messages_per_second", "cpu_us_per_message_ours", "other_load")
        }
        | {
            "peak_rss_mb": max(max(r[path]["peak_rss_mb"]) for r in rounds),
        }
        for path in paths
    }
    ratios = {
        name: _spread([r[a]["messages_per_second"] / r[b]["messages_per_second"] for r in rounds])
        for name, (a, b) in RATIOS.items()
        if a in paths and b in paths
    }
    render = statistics.median(c["render_email_per_second"] for c in ceilings)
    cores = os.cpu_count() or 1
    of_ceiling = {
        path: round(summary[path]["messages_per_second"]["median"] / cores / render, 3)
        for path in paths
        if path in (*LADDER_PATHS, "embedded")  # the embedded default sends with two processes
    }
    full = args.deliveries >= FULL["deliveries"]
    verdicts = {}
    if full:
        for path, target in TARGETS.items():
            if path in summary:
                verdicts[f"{path} ≥ {target:,} msg/s"] = (
                    summary[path]["messages_per_second"]["median"] >= target
                )
        for name in ("batch/naive", "batch/post-office"):
            if name in ratios:
                verdicts[f"{name} ≥ {RATIO_TARGET}x"] = ratios[name]["median"] >= RATIO_TARGET
    passed = all(r[p]["passed"] for r in rounds for p in r)
    return {
        "summary": summary,
        "ratios": ratios,
        "render_email_per_second_median": round(render),
        "share_of_render_ceiling_per_core": of_ceiling,
        "targets": verdicts,
        "checks_passed": passed,
        "complete": passed,
    }


def print_report(result: dict[str, Any], command: str) -> None:
    config = result["config"]
    print(
        f"\nDelivery: {config['customers']:,} customers, {config['workers']} workers, "
        f"{config['rounds']} round(s), interleaved {' → '.join(config['paths'])}"
    )
    rows = [["path", "deliveries", "sent", "msg/s median", "min-max", "CPU µs/msg", "peak RSS MB"]]
    for path, figures in result["summary"].items():
        last = result["rounds"][-1][path]
        rate = figures["messages_per_second"]
        rows.append(
            [
                path,
                f"{last['deliveries']:,}",
                f"{last['sent']:,}",
                f"{rate['median']:,.0f}",
                f"{rate['min']:,.0f}-{rate['max']:,.0f}",
                f"{figures['cpu_us_per_message_ours']['median']:,.0f}",
                f"{figures['peak_rss_mb']}",
            ]
        )
    _table(rows)
    print("\nEach run (other load: share of the machine other processes took meanwhile):")
    rows = [["round", "path", "msg/s", "seconds", "CPU µs/msg", "other load"]]
    for number, runs in enumerate(result["rounds"], 1):
        for path, run in runs.items():
            rows.append(
                [
                    str(number),
                    path,
                    f"{run['messages_per_second']:,.0f}",
                    f"{run['seconds']:,.1f}",
                    f"{run['cpu_us_per_message_ours']:,}",
                    f"{run['other_load']:.0%}",
                ]
            )
    _table(rows)
    if result["ratios"]:
        print()
        rows = [["ratio", "median", "min-max"]]
        for name, spread in result["ratios"].items():
            spread_text = f"{spread['min']:.1f}-{spread['max']:.1f}x"
            rows.append([name, f"{spread['median']:.1f}x", spread_text])
        _table(rows)
    ceiling = result["render_ceiling"][-1]
    render = result["render_email_per_second_median"]
    body = statistics.median(c["jinja2_body_per_second"] for c in result["render_ceiling"])
    print(
        f"\nRender ceiling (one core, CPU time): render_email {render:,}/s "
        f"({1e6 / render:.0f} µs; {ceiling['html_chars']:,} chars of HTML, "
        f"{ceiling['text_chars']:,} of text); the template body alone in plain Jinja2 "
        f"{body:,.0f}/s ({1e6 / body:.0f} µs)."
    )
    for path, share in result["share_of_render_ceiling_per_core"].items():
        print(f"  {path}: {share:.0%} of the render ceiling per core")
    if "naive" in result["summary"] or "post-office" in result["summary"]:
        print(
            f"\nnaive and post-office send a subset ({config['naive']:,} and "
            f"{config['post_office']:,} deliveries): their rate is what is compared. "
            "post-office sends one HTTP call per message (it cannot use /email/batch); its "
            "time is queueing (send_many on both workers) plus send_queued_mail."
        )
    checks = "all passed" if result["checks_passed"] else "FAILED (see the JSON)"
    print(f"Checks on every run: {checks}.")
    for name, ok in result["targets"].items():
        print(f"  target {name}: {'met' if ok else 'MISSED'}")
    print(f"\nReproduce: {command}")


def _table(rows: list[list[str]]) -> None:
    """Figures right-aligned, names left-aligned."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    names = {i for i, cell in enumerate(rows[1] if len(rows) > 1 else []) if cell[:1].isalpha()}
    for n, row in enumerate(rows):
        cells = zip(row, widths, strict=True)
        print("  ".join(c.ljust(w) if i in names else c.rjust(w) for i, (c, w) in enumerate(cells)))
        if n == 0:
            print("  ".join("-" * w for w in widths))


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.delivery", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes, for CI")
    parser.add_argument("--customers", type=positive, help=f"seeded ({FULL['customers']:,})")
    parser.add_argument(
        "--deliveries",
        type=positive,
        help=f"queued for the Ladder paths ({FULL['deliveries']:,})",
    )
    for name, what in (
        ("naive", "the naive path sends"),
        ("post-office", "post-office sends"),
        ("embedded", "the embedded default sends"),
    ):
        default = FULL[name.replace("-", "_")]
        parser.add_argument(f"--{name}", type=positive, help=f"deliveries {what} ({default:,})")
    parser.add_argument("--rounds", type=positive, help=f"interleaved rounds ({FULL['rounds']})")
    parser.add_argument(
        "--paths", default=",".join(PATHS), help=f"in round order ({','.join(PATHS)})"
    )
    parser.add_argument("--workers", type=positive, default=2, help="Celery workers (2)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-limit", type=float, default=900, help="seconds one run may take (900)"
    )
    server_url_argument(parser)
    parser.add_argument("--database", default="ladder_bench_delivery")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/5")
    parser.add_argument("--token", default="postmark-sink-token")
    parser.add_argument("--logs", default=str(ROOT / "var" / "bench-logs" / "delivery"))
    parser.add_argument(
        "--json-line", action="store_true", help="end with the result as one JSON line"
    )
    args = parser.parse_args(argv)
    args.paths = [p.strip() for p in args.paths.split(",") if p.strip()]
    unknown = set(args.paths) - set(PATHS)
    if unknown:
        parser.error(f"--paths: unknown {', '.join(sorted(unknown))}")
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    sizes = {"naive": args.naive, "post-office": args.post_office}
    needed = max([args.deliveries] + [size for path, size in sizes.items() if path in args.paths])
    if args.customers < needed:
        parser.error(f"--customers ({args.customers:,}) must be at least {needed:,}")
    return args


def machine() -> dict[str, Any]:
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "commit": commit or None,
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = " ".join([".venv/bin/python -m bench.delivery", *map(shlex.quote, argv)])
    result = run(args)
    result["command"] = command
    result["machine"] = machine()
    print_report(result, command)
    if args.json_line:
        print(json.dumps(result))
    else:
        RESULTS_DIR.mkdir(exist_ok=True)
        stamp = result["started_at"].replace(":", "").replace("-", "")[:15]
        path = RESULTS_DIR / f"{stamp}Z-delivery.json"
        path.write_text(json.dumps(result, indent=2) + "\n")
        print(f"Written: {path.relative_to(ROOT)}")
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
