"""Webhook ingestion: Postmark's tracking events through anymail's real endpoint.

On PostgreSQL, in a database of its own:

1. Seeds customers with email consent, a message with two variants and their
   tracked links, and one sent delivery per customer (``COPY`` and
   ``INSERT … SELECT``).
2. Serves the app as in production: gunicorn (3 sync workers) with
   ``ANYMAIL_WEBHOOK_SECRET`` set, Redis as the broker and one Celery worker
   on a queue of this run's, which runs the lifecycle refreshes the events
   call for (coalesced: customers/lifecycle/pending.py). And a second
   gunicorn, the **peer**, serving the same endpoint with Ladder's receiver
   disconnected (bench/webhook_peer.py): anymail alone.
3. Checks the secret first: a post without basic auth, and one with a wrong
   password, get 400 and store nothing.
4. In each round, posts one stream (bench/webhook_stream.py: deliveries,
   bounces, complaints, unsubscribes, opens, clicks; duplicates side by side
   and later; Delivery records racing or following bounces) from several
   client threads to Ladder, then the same bodies to the peer. One event per
   request, as Postmark posts them. The clock runs while each wave is sent
   (the second starts once every answer of the first is in), and for Ladder
   until the worker has done the refreshes the round left behind: the rate
   is of events applied, not just answered. The worker's CPU counts as ours.
5. Checks, failing the run otherwise: each delivery's final status, exactly
   the customer events it must have (none twice), the suppressions and
   consent withdrawals, one ``ProviderEvent`` per distinct event, and the
   metrics of every customer who opened (the refresh ran).

Run by ``python -m bench`` in a process of its own, or alone:

    python -m bench.webhooks --quick
    python -m bench.webhooks                 # 5,000 posts a round, 3 rounds
    python -m bench.webhooks --events 5000 --rounds 1 --clients 8
"""

import argparse
import base64
import math
import os
import random
import secrets
import statistics
import sys
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench import memory
from bench.cli import finish, where_arguments
from bench.ingest import CpuMeter, customers_copy, database_recreate
from bench.serving import (
    Clients,
    Refused,
    Server,
    TempLog,
    gunicorn_start,
    latency_ms,
    server_stop,
    server_wait,
)
from bench.webhook_stream import (
    EVENT_NAMES,
    EVENTS_PER_DELIVERY,
    Expected,
    Payloads,
    Stream,
    stream_build,
)
from bench.webhook_stream import Sent as SentEmail
from config.redis import redis_client

#: anymail's Postmark tracking URL (docs/webhooks.md).
TRACKING_PATH = "/anymail/postmark/tracking/"
#: Sizes of a full run and of the --quick smoke run; explicit flags win.
FULL = {"events": 5_000, "rounds": 3}
QUICK = {"events": 200, "rounds": 1}
#: Deliveries whose Delivery record warms every worker up before the clock starts.
WARMUP_DELIVERIES = 21
MESSAGE_KEY = "bench-webhooks"
#: The links of each variant; clicks go to Ladder's redirect for one of them.
LINKS = ("https://shop.example/spring", "https://shop.example/new", "https://shop.example/account")


# --- Seeding ----------------------------------------------------------------


def seed(deliveries: int, *, sent_at: datetime) -> dict[str, Any]:
    """Customers with consent, the message, and one sent delivery each."""
    from django.db import connection

    from campaigns.models import Message, Variant
    from campaigns.tracking import links_register
    from customers.models import Customer, Topic

    topic = Topic.objects.get(key="email_marketing")
    customers_copy(emails=[f"wh-{n:07d}@bench.test" for n in range(deliveries)])
    message = Message.objects.create(key=MESSAGE_KEY, name="Bench: webhooks", topic=topic)
    variants = {
        key: Variant.objects.create(
            message=message, key=key, subject=f"Spring {key}", html_body="<p>x</p>"
        )
        for key in ("A", "B")
    }
    for variant in variants.values():
        links_register(variant_id=variant.pk, urls=list(LINKS))
    with connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO customers_consent (customer_id, topic_id, status, text_version,"
            " updated_at) SELECT id, %s, 'granted', 'bench', now() FROM customers_customer",
            [topic.pk],
        )
        # Variant by parity, a Postmark-like message id, sent a day ago.
        cursor.execute(
            """
            INSERT INTO campaigns_delivery (customer_id, message_id, variant_id, status,
                journey_key, step_key, visit, queued_at, updated_at, sent_at, handed_at,
                attempts, provider_message_id, error, open_count, click_count)
            SELECT id, %(message)s, CASE WHEN id %% 2 = 0 THEN %(a)s ELSE %(b)s END, 'sent',
                'bench-webhooks', 'send', 1, %(at)s, %(at)s, %(at)s, %(at)s, 1,
                md5('bench-webhooks' || id)::uuid::text, '', 0, 0
            FROM customers_customer ORDER BY id
            """,
            {"message": message.pk, "a": variants["A"].pk, "b": variants["B"].pk, "at": sent_at},
        )
        cursor.execute("ANALYZE")
    return {"customers": Customer.objects.count()}


def sent_emails() -> list[SentEmail]:
    """Every seeded delivery as ``webhook_stream.Sent``, in id order."""
    from campaigns.models import Delivery, VariantLink
    from campaigns.tokens import click_url

    first_link = dict(VariantLink.objects.filter(url=LINKS[0]).values_list("variant", "id"))
    rows = Delivery.objects.order_by("id").values_list(
        "id", "customer__email", "provider_message_id", "variant_id"
    )
    return [
        SentEmail(
            delivery_id=pk,
            email=email,
            message_id=message_id,
            tag=MESSAGE_KEY,
            click_url=click_url(pk, first_link[variant_id]),
        )
        for pk, email, message_id, variant_id in rows
    ]


# --- Posting ----------------------------------------------------------------


def _basic(secret: str) -> str:
    return "Basic " + base64.b64encode(secret.encode()).decode()


def _ok(status: int, body: bytes) -> int:
    if status != 200:
        raise Refused(f"HTTP {status}: {body[:300].decode(errors='replace')}")
    return 1


class Refreshes:
    """The Celery worker that runs the lifecycle refreshes webhooks leave behind,
    and whether it has caught up."""

    def __init__(self, *, broker: str, queue: str, env: dict[str, str], log: Path) -> None:
        from config.workers import worker_start
        from customers.lifecycle import pending

        self.broker, self.queue = broker, queue
        self.hostname = f"{queue}@localhost"
        # A previous run's leftovers would be refreshed against this database.
        redis_client(broker).delete(pending.PENDING_KEY, pending.SCHEDULED_KEY)
        self.process = worker_start(hostname=self.hostname, queue=queue, env=env, log=log)

    def wait(self, time_limit: float) -> float:
        """Seconds until nothing waits: no task queued, no customer pending, no
        refresh scheduled, the worker idle (a solo worker busy with a task does
        not answer, so an answer means idle)."""
        from config.celery import app
        from customers.lifecycle import pending

        started = time.perf_counter()
        redis = redis_client(self.broker)
        while time.perf_counter() - started < time_limit:
            waiting = (
                redis.llen(self.queue)
                or redis.scard(pending.PENDING_KEY)
                or redis.exists(pending.SCHEDULED_KEY)
            )
            if not waiting:
                inspect = app.control.inspect(destination=[self.hostname], timeout=1, limit=1)
                active = inspect.active()
                if active and not active.get(self.hostname):
                    return time.perf_counter() - started
            time.sleep(0.05)
        raise TimeoutError(f"the refreshes were still running after {time_limit:.0f} s")

    def stop(self) -> None:
        from config.workers import workers_stop

        workers_stop([self.process])


def post_stream(
    clients: Clients,
    stream: Stream,
    *,
    server: Server,
    database_url: str,
    time_limit: float,
    refreshes: Refreshes | None = None,
) -> dict[str, Any]:
    """Both waves of ``stream``, the second once every answer of the first is in;
    then, given ``refreshes``, until they are done too."""
    worker_pids = [refreshes.process.pid] if refreshes else []
    with CpuMeter(
        server_pid=server.process.pid, database_url=database_url, worker_pids=worker_pids
    ) as meter:
        waves = [clients(bodies, judge=_ok, time_limit=time_limit) for bodies in stream.waves]
        caught_up = refreshes.wait(time_limit) if refreshes else 0.0
    cpu = meter.used()
    seconds = sum(wave.seconds for wave in waves) + caught_up
    posts = sum(wave.requests for wave in waves)
    ours = sum(value for name, value in cpu.items() if name != "other")
    return {
        "events": posts,
        "seconds": round(seconds, 3),
        "events_per_second": round(posts / seconds, 1),
        "ms": latency_ms(waves),
        "refresh_wait_seconds": round(caught_up, 3),
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        "cpu_us_per_event": round(1e6 * ours / posts, 1) if cpu else None,
        "other_load": round(cpu["other"] / (seconds * (os.cpu_count() or 1)), 2) if cpu else None,
        "complete": all(wave.complete for wave in waves),
    }


def secret_checks(clients: Clients, body: bytes) -> dict[str, bool]:
    """A post without the secret, or with a wrong one, is refused and stores nothing."""
    from campaigns.models import ProviderEvent

    before = ProviderEvent.objects.count()
    content = {"Content-Type": "application/json"}
    missing, _ = clients.post_once(body, content)
    wrong, _ = clients.post_once(body, content | {"Authorization": _basic("postmark:wrong")})
    return {
        "no_secret_refused": missing == 400,
        "wrong_secret_refused": wrong == 400,
        "refused_posts_store_nothing": ProviderEvent.objects.count() == before,
    }


# --- Checking ---------------------------------------------------------------


def verify(expected: Expected) -> dict[str, bool]:
    """Compare the database with what the streams must have left, in a few grouped
    queries."""
    from django.db.models import Count
    from django.db.models.fields.json import KT

    from campaigns.models import Delivery, ProviderEvent
    from customers.models import Consent, Customer, Event, Suppression, address_hash

    status = dict(Delivery.objects.values_list("id", "status"))
    stored = Counter(
        {
            (int(delivery_id), name): n
            for delivery_id, name, n in Event.objects.filter(name__in=EVENT_NAMES)
            .values_list(KT("properties__delivery_id"), "name")
            .annotate(n=Count("id"))
        }
    )
    racing = {(pk, "email_delivered") for pk in expected.racing}
    exact = {key: n for key, n in stored.items() if key not in racing}
    wanted = {key: n for key, n in expected.events.items() if key not in racing}
    withdrawn = set(
        Consent.objects.filter(status="withdrawn").values_list("customer_id", flat=True)
    )
    opened = set(
        Event.objects.filter(name="email_opened", properties__machine=False).values_list(
            "customer_id", flat=True
        )
    )
    withdrawn_expected = set(
        Delivery.objects.filter(pk__in=expected.withdrawn).values_list("customer_id", flat=True)
    )
    return {
        "final_status_of_every_delivery": all(
            status.get(pk) == want for pk, want in expected.status.items()
        ),
        "customer_events_exactly_once": exact == wanted,
        "racing_delivered_at_most_once": all(stored[key] <= 1 for key in racing),
        "late_delivered_never_undoes_bounced": not any(
            stored[pk, "email_delivered"]
            for pk, want in expected.status.items()
            if want == "bounced" and pk not in expected.racing
        ),
        "suppressed_exactly_hard_bounces_and_complaints": set(
            Suppression.objects.values_list("address_hash", flat=True)
        )
        == {address_hash(email) for email in expected.suppressed},
        "consent_withdrawn_exactly_on_complaints_and_unsubscribes": withdrawn == withdrawn_expected,
        "one_provider_event_per_distinct_event": ProviderEvent.objects.count()
        == expected.provider_events,
        "every_human_open_refreshed_its_customers_metrics": bool(opened)
        and not Customer.objects.filter(pk__in=opened, last_open_at__isnull=True).exists(),
    }


# --- The whole run ----------------------------------------------------------


def _spread(values: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(values), 2),
        "min": round(min(values), 2),
        "max": round(max(values), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    database_recreate(server_url=args.server_url, database=args.database)
    database_url = f"{args.server_url.rstrip('/')}/{args.database}"
    secret = f"postmark:{secrets.token_urlsafe(18)}"
    queue = f"bench-webhooks-{uuid.uuid4().hex[:8]}"
    env = {
        "DATABASE_URL": database_url,
        "ANYMAIL_WEBHOOK_SECRET": secret,
        "CELERY_BROKER_URL": args.broker,
        "LADDER_REDIS_URL": args.broker,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    os.environ.update(env | {"DJANGO_SETTINGS_MODULE": "config.settings", "DEBUG": "false"})
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    per_round = math.ceil(args.events / EVENTS_PER_DELIVERY)
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    deliveries = WARMUP_DELIVERIES + per_round * args.rounds
    print(f"Seeding {deliveries:,} sent deliveries in {args.database} …", file=sys.stderr)
    seeded = seed(deliveries, sent_at=sent_at)
    emails = sent_emails()
    rng = random.Random(args.seed)
    warmup = stream_build(emails[:WARMUP_DELIVERIES], sent_at=sent_at, rng=rng)
    streams = [
        stream_build(
            emails[WARMUP_DELIVERIES + n * per_round : WARMUP_DELIVERIES + (n + 1) * per_round],
            sent_at=sent_at,
            rng=rng,
            first_id=1_000_000 * (n + 1),
        )
        for n in range(args.rounds)
    ]
    expected = Expected()
    for stream in [warmup, *streams]:
        expected.update(stream.expected)

    headers = {"Authorization": _basic(secret), "Content-Type": "application/json"}
    runs: list[dict[str, Any]] = []
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    with TempLog() as log, TempLog() as peer_log:
        servers = {}
        refreshes = None
        try:
            refreshes = Refreshes(
                broker=args.broker, queue=queue, env=dict(os.environ), log=logs / "worker.log"
            )
            for name, app, output in (
                ("ladder", "config.wsgi", log),
                ("anymail alone", "bench.webhook_peer", peer_log),
            ):
                servers[name] = gunicorn_start(
                    app=app,
                    env=env,
                    workers=args.workers,
                    worker_class="sync",
                    threads=1,
                    log=output.file,
                    broker=args.broker if name == "ladder" else "",
                )
            for name, output in (("ladder", log), ("anymail alone", peer_log)):
                server_wait(server=servers[name], log=output, path=TRACKING_PATH)
            clients = {
                name: Clients(
                    port=server.port, path=TRACKING_PATH, headers=headers, clients=args.clients
                )
                for name, server in servers.items()
            }
            for name in servers:
                for wave in warmup.waves:
                    clients[name](wave, judge=_ok, time_limit=600)
            refreshes.wait(600)
            # An event no stream posts: it would be stored if the secret were not checked.
            probe = Payloads(emails[0], sent_at + timedelta(days=1), iter(())).delivery(seconds=0)
            checks = secret_checks(clients["ladder"], orjson.dumps(probe))
            for number, stream in enumerate(streams, 1):
                results = {}
                for name, server in servers.items():
                    results[name] = post_stream(
                        clients[name],
                        stream,
                        server=server,
                        database_url=database_url,
                        time_limit=args.time_limit,
                        refreshes=refreshes if name == "ladder" else None,
                    )
                results["ratio"] = round(
                    results["ladder"]["events_per_second"]
                    / results["anymail alone"]["events_per_second"],
                    3,
                )
                runs.append(results)
                print(
                    f"  round {number}/{args.rounds}: {stream.posts:,} posts, Ladder "
                    f"{results['ladder']['events_per_second']:,.0f}/s "
                    f"(p50 {results['ladder']['ms']['p50']} ms, "
                    f"p99 {results['ladder']['ms']['p99']} ms), anymail alone "
                    f"{results['anymail alone']['events_per_second']:,.0f}/s, ratio "
                    f"{results['ratio']:.2f}, other load {results['ladder']['other_load']:.0%}",
                    file=sys.stderr,
                )
            peaks = {
                f"gunicorn workers ({name})": server.worker_peaks_mb()
                for name, server in servers.items()
            } | {"celery worker (refreshes)": memory.peak_rss_mb(refreshes.process.pid)}
        except Exception:
            sys.stderr.write(log.tail() + peer_log.tail())
            raise
        finally:
            for server in servers.values():
                server_stop(server.process)
            if refreshes is not None:
                refreshes.stop()
    checks |= verify(expected)
    checks["every_post_answered_in_time"] = all(r["ladder"]["complete"] for r in runs)
    ladder = [r["ladder"] for r in runs]
    return {
        "scenario": "webhooks",
        "config": {
            "events": args.events,
            "rounds": args.rounds,
            "clients": args.clients,
            "workers": args.workers,
            "celery_workers": 1,
            "seed": args.seed,
            "database": args.database,
        },
        "seed": seeded,
        "posts_per_round": [stream.posts for stream in streams],
        "distinct_events": expected.provider_events,
        "rounds": runs,
        "events_per_second": _spread([r["events_per_second"] for r in ladder]),
        "peer_events_per_second": _spread([r["anymail alone"]["events_per_second"] for r in runs]),
        "ratio": _spread([r["ratio"] for r in runs]),
        "ms": {
            "p50": statistics.median(r["ms"]["p50"] for r in ladder),
            "p99": statistics.median(r["ms"]["p99"] for r in ladder),
        },
        "cpu_us_per_event": statistics.median(r["cpu_us_per_event"] or 0 for r in ladder),
        "peak_memory_mb": peaks | {"client": memory.peak_rss_mb()},
        "checks": checks,
        "complete": all(checks.values()),
    }


def report(result: dict[str, Any]) -> None:
    rate, peer = result["events_per_second"], result["peer_events_per_second"]
    ratio = result["ratio"]
    config = result["config"]
    print(
        f"Webhook ingestion (Postmark through anymail), {config['rounds']} round(s) of "
        f"{result['posts_per_round'][0]:,} posts, {config['clients']} clients, "
        f"{config['workers']} gunicorn workers, 1 Celery worker:"
    )
    print(
        f"  Ladder:        {rate['median']:>8,.0f} events/s (min-max {rate['min']:,.0f}-"
        f"{rate['max']:,.0f}), p50 {result['ms']['p50']} ms, p99 {result['ms']['p99']} ms, "
        f"{result['cpu_us_per_event']:,.0f} CPU µs/event"
    )
    print(f"  anymail alone: {peer['median']:>8,.0f} events/s (the endpoint, nobody listening)")
    print(f"  ratio:         {ratio['median']:.2f} (min-max {ratio['min']:.2f}-{ratio['max']:.2f})")
    print(f"  peak memory:   {result['peak_memory_mb']}")
    failed = [name for name, ok in result["checks"].items() if not ok]
    print("  checks:        " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhooks",
        description=__doc__.split("\n")[0],
    )
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes, for CI")
    parser.add_argument("--events", type=int, help=f"posts per round, about ({FULL['events']:,})")
    parser.add_argument("--rounds", type=int, help=f"interleaved rounds ({FULL['rounds']})")
    parser.add_argument("--clients", type=int, default=4, help="concurrent connections (4)")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn workers (3)")
    parser.add_argument("--time-limit", type=float, default=600, help="seconds per wave (600)")
    parser.add_argument("--seed", type=int, default=1)
    where_arguments(parser, database="ladder_bench_webhooks")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14", help="Redis (db 14)")
    parser.add_argument("--logs", default="var/bench-logs/webhooks", help="the worker's log")
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return finish(run(args), report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
