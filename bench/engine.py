"""Journey engine benchmark: activation at scale, and advancing due enrollments.

Two scenarios on PostgreSQL, in a database of their own:

1. **Activation** — a broadcast journey whose rule matches most of N customers
   (default 1,000,000) is activated; everyone eligible (consent granted, not
   suppressed, matching the rule) is enrolled by one INSERT … SELECT.
2. **Advancing** — M enrollments (default 100,000) are due at once on a
   journey of condition → split → send → exit. Real Celery workers (default
   two, one per core) take them through Redis, claiming batches with
   SELECT … FOR UPDATE SKIP LOCKED; the clock stops when none is left active.
   Then it checks: one outbox row per enrollment, no duplicate, nothing for a
   customer without consent or with a suppressed address, and the A/B split
   within ±2% of its 50/50 weights.

Run by ``python -m bench`` (as a subprocess, so Django is set up on this
database alone), or directly: ``python -m bench.engine --customers 20000``.
"""

import argparse
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

from bench.cli import finish, where_arguments
from bench.memory import peak_rss_mb

ROOT = Path(__file__).resolve().parent.parent

#: How many customers consent, and how many addresses are suppressed (per mille).
CONSENT_PER_MILLE = 950
SUPPRESSED_PER_MILLE = 10

BROADCAST = {
    "key": "bench-broadcast",
    "name": "Bench: broadcast",
    "trigger": {
        "type": "broadcast",
        "rule": {"field": "attributes.plan", "op": "in", "value": ["free", "pro"]},
    },
    "start": "wait",
    "steps": {
        "wait": {"type": "wait", "duration": "30d", "next": "end"},
        "end": {"type": "exit"},
    },
}


def advancing_journey(percent: int) -> dict[str, Any]:
    """Condition → split → send, entered by ``percent`` % of customers (by cohort)."""
    return {
        "key": "bench-advance",
        "name": "Bench: advance",
        "trigger": {
            "type": "broadcast",
            "rule": {"field": "attributes.cohort", "op": "lt", "value": percent},
        },
        "quiet_hours": None,
        "frequency_cap": {"per_day": None, "per_week": None},
        "start": "check",
        "steps": {
            "check": {
                "type": "condition",
                "rule": {"field": "attributes.plan", "op": "eq", "value": "pro"},
                "then": "split",
                "else": "split",
            },
            "split": {
                "type": "split",
                "experiment": "bench-split",
                "branches": [
                    {"name": "a", "weight": 50, "next": "send"},
                    {"name": "b", "weight": 50, "next": "send"},
                ],
            },
            "send": {"type": "send_email", "message": "bench", "next": "end"},
            "end": {"type": "exit"},
        },
    }


def seed(customers: int) -> dict[str, float]:
    """Customers, consents and suppressions generated inside PostgreSQL."""
    from django.db import connection

    from customers.models import Topic

    topic = Topic.objects.get(key="email_marketing")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO customers_customer (email, email_hash, first_name, last_name, locale,
                time_zone, attributes, stage, stage_changed_at, orders_count, revenue,
                engagement_score, clv, created_at, updated_at)
            SELECT e, encode(sha256(convert_to(e, 'UTF8')), 'hex'), 'Bench', 'Customer', 'en',
                'Europe/Paris',
                jsonb_build_object('plan', (ARRAY['free', 'pro', 'team'])[1 + g %% 3],
                                   'cohort', g %% 100),
                'prospect', now(), 0, 0, 0, 0, now(), now()
            FROM generate_series(1, %s) AS g, LATERAL (SELECT 'c' || g || '@bench.test' AS e) x
            """,
            [customers],
        )
        cursor.execute(
            """
            INSERT INTO customers_consent (customer_id, topic_id, status, text_version, updated_at)
            SELECT id, %s, 'granted', 'bench', now() FROM customers_customer
            WHERE id %% 1000 < %s
            """,
            [topic.pk, CONSENT_PER_MILLE],
        )
        cursor.execute(
            """
            INSERT INTO customers_suppression (address_hash, reason, note, created_at)
            SELECT email_hash, 'hard_bounce', 'bench', now() FROM customers_customer
            WHERE id %% 1000 >= 1000 - %s
            """,
            [SUPPRESSED_PER_MILLE],
        )
        cursor.execute("ANALYZE")
    return {"seed_seconds": round(time.perf_counter() - started, 2)}


def messages_create() -> None:
    from campaigns.models import Message, Variant
    from customers.models import Topic

    message = Message.objects.create(
        key="bench", name="Bench", topic=Topic.objects.get(key="email_marketing")
    )
    for key in ("A", "B"):
        Variant.objects.create(
            message=message, key=key, subject=f"Hello {key}", html_body="<p>x</p>"
        )


def activation() -> dict[str, Any]:
    from journeys.services import journey_activate, journey_pause, journey_save

    version = journey_save(document=BROADCAST)
    started = time.perf_counter()
    enrolled = journey_activate(journey=version.journey)
    seconds = time.perf_counter() - started
    # Its enrollments wait thirty days; pause it so the workers see only the next scenario.
    journey_pause(journey=version.journey)
    return {
        "enrolled": enrolled,
        "seconds": round(seconds, 2),
        "enrolled_per_second": round(enrolled / seconds),
    }


def _workers_start(count: int, queue: str, env: dict[str, str], logs: Path) -> list:
    from config.workers import worker_start

    return [
        worker_start(
            hostname=f"bench{n}-{queue}@localhost",
            queue=queue,
            env=env,
            log=logs / f"worker{n}.log",
        )
        for n in range(count)
    ]


def advancing(*, percent: int, workers: int, env: dict[str, str], logs: Path) -> dict[str, Any]:
    from django.db.models import Count, Exists, OuterRef
    from django.db.models.fields.json import KT

    from campaigns.models import Delivery
    from config.celery import app
    from config.workers import workers_stop
    from customers.models import Consent, Suppression
    from journeys.models import Enrollment
    from journeys.services import journey_activate, journey_save
    from journeys.tasks import enrollments_advance

    version = journey_save(document=advancing_journey(percent))
    due = journey_activate(journey=version.journey)
    queue = f"bench-engine-{uuid.uuid4().hex[:8]}"
    app.conf.task_default_queue = queue
    app.conf.task_always_eager = False
    processes = _workers_start(workers, queue, env, logs)
    try:
        active = Enrollment.objects.filter(version=version, status=Enrollment.Status.ACTIVE)
        started = time.perf_counter()
        for _ in range(workers):
            enrollments_advance.delay()
        kicked = started
        while active.exists():
            time.sleep(0.2)
            # One task stops after its time budget; a live system's next tick
            # would send more. Do the same rather than wait for beat.
            if time.perf_counter() - kicked > 45:
                for _ in range(workers):
                    enrollments_advance.delay()
                kicked = time.perf_counter()
        seconds = time.perf_counter() - started
        peaks = [peak_rss_mb(p.pid) for p in processes]
    finally:
        workers_stop(processes, timeout=30)

    deliveries = Delivery.objects.filter(journey_key="bench-advance")
    sent = deliveries.count()
    per_enrollment = set(
        deliveries.values("enrollment_id").annotate(n=Count("id")).values_list("n", flat=True)
    )
    no_consent = deliveries.exclude(
        Exists(Consent.objects.filter(customer=OuterRef("customer"), status="granted"))
    ).count()
    suppressed = deliveries.filter(
        Exists(Suppression.objects.filter(address_hash=OuterRef("customer__email_hash")))
    ).count()
    split = dict(
        Enrollment.objects.filter(version=version)
        .annotate(branch=KT("branches__bench-split"))
        .values("branch")
        .annotate(n=Count("id"))
        .values_list("branch", "n")
    )
    share_a = split.get("a", 0) / max(1, sum(split.values()))
    checks = {
        "one_delivery_per_enrollment": sent == due and per_enrollment <= {1},
        "nothing_without_consent": no_consent == 0,
        "nothing_to_suppressed": suppressed == 0,
        "split_within_2_percent": abs(share_a - 0.5) <= 0.02,
    }
    return {
        "due": due,
        "seconds": round(seconds, 2),
        "advanced_per_second": round(due / seconds),
        "deliveries": sent,
        "split_a_share": round(share_a, 4),
        "workers": workers,
        "worker_peak_rss_mb": peaks,
        "checks": checks,
        "complete": all(checks.values()),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.ingest import database_recreate

    database_url = f"{args.server_url.rstrip('/')}/{args.database}"
    database_recreate(server_url=args.server_url, database=args.database)
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "CELERY_BROKER_URL": args.broker,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DEBUG": "false",
        "LADDER_ENGINE_BATCH": str(args.batch),
    }
    os.environ.update(env)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    result: dict[str, Any] = {"scenario": "engine", "customers": args.customers}
    result.update(seed(args.customers))
    messages_create()
    result["activation"] = activation()
    percent = max(1, min(100, round(100 * args.due / args.customers)))
    logs = Path(args.logs)
    logs.mkdir(parents=True, exist_ok=True)
    result["advancing"] = advancing(percent=percent, workers=args.workers, env=env, logs=logs)
    result["complete"] = result["advancing"]["complete"]
    return result


def report(result: dict[str, Any]) -> None:
    activation, advancing = result["activation"], result["advancing"]
    print(
        f"Journey engine, {result['customers']:,} customers (seeded in {result['seed_seconds']} s):"
    )
    print(
        f"  activation: {activation['enrolled']:,} enrolled in {activation['seconds']} s "
        f"({activation['enrolled_per_second']:,}/s)"
    )
    print(
        f"  advancing:  {advancing['due']:,} enrollments through condition → split → send in "
        f"{advancing['seconds']} s ({advancing['advanced_per_second']:,}/s) with "
        f"{advancing['workers']} Celery workers, peak RSS {advancing['worker_peak_rss_mb']} MB"
    )
    failed = [name for name, ok in advancing["checks"].items() if not ok]
    print("  checks:     " + (f"FAILED: {', '.join(failed)}" if failed else "all passed"))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.engine", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--due", type=int, default=100_000, help="enrollments to advance")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batch", type=int, default=1000, help="LADDER_ENGINE_BATCH")
    where_arguments(parser, database="ladder_bench_engine")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/14")
    parser.add_argument("--logs", default=str(ROOT / "var" / "bench-logs"))
    args = parser.parse_args(argv)
    return finish(run(args), report)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
