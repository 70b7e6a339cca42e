"""A/B report benchmark: ``ab_report`` over a million deliveries on PostgreSQL.

Seeds a database of its own with COPY: one customer, one enrollment and one
delivery per unit (default 1,000,000), with the Delivery tracking columns
filled as a month of a real campaign would fill them (delivered, human and
machine opens, clicks, unsubscribes, complaints, bounces), 3,000,000 tracking
events (``email_opened``, ``email_clicked``, ``purchase``) and the conversions
credited to the deliveries. The one journey has a 50/50 split whose branches
send the one message, which has variants A and B, so both kinds of experiment
cover every delivery:

- ``message:bench-ab`` — the variants;
- ``journey:bench-ab:split`` — the branches. Each branch sends from a step of
  its own, so emails are grouped by step; with ``--shared-step`` both branches
  send from one step and emails are grouped by the branch each carries
  (``Delivery.branches``). ``--unrecorded`` seeds them as queued before the
  branch was recorded (campaigns migration 0006): every email is then joined
  to its enrollment's branch, the slowest path.

Each is timed through ``experiment_results`` and through the ``ab_report``
command (text), best of ``--rounds``. The target is 2 s at the full size; a
missed target is reported, while a failed check (each experiment counts every
seeded email, click and conversion once) fails the run.

    python -m bench.ab_report --quick
    python -m bench.ab_report                    # 1,000,000 deliveries
    python -m bench.ab_report --shared-step
    python -m bench.ab_report --shared-step --unrecorded
    python -m bench.ab_report --deliveries 200000 --rounds 5
"""

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

import numpy as np
from psycopg import sql

from bench.cli import where_arguments
from bench.memory import peak_reset, peak_rss_mb

#: Sizes of a full run and of the --quick smoke run; explicit flags win.
FULL = {"deliveries": 1_000_000, "events": 3_000_000}
QUICK = {"deliveries": 20_000, "events": 60_000}
#: The issue's target for one report at the full size, in seconds.
TARGET_SECONDS = 2.0
#: Rows per COPY write: big enough to amortize the call, small enough for memory.
CHUNK = 100_000

START = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
DAY, HOUR = 86_400, 3_600
NULL = "\\N"

#: Shares of deliveries (per variant where two are given: A, B).
BOUNCED, DELIVERED = 0.02, 0.95
HUMAN_OPEN, MACHINE_OPEN = (0.30, 0.32), 0.15
CLICK_OF_OPENED = (0.15, 0.18)
UNSUBSCRIBED, COMPLAINED = 0.002, 0.0002
CONVERTED = (0.030, 0.033)


def journey(*, shared: bool) -> dict[str, Any]:
    """A 50/50 split whose branches send the one message: from a send step of
    their own each (the split's report groups emails by step), or with
    ``shared`` from one step both reach (each email is joined to its
    enrollment's branch: the slow path)."""
    sends = {"a": "send", "b": "send"} if shared else {"a": "send-a", "b": "send-b"}
    return {
        "key": "bench-ab",
        "name": "Bench: A/B report",
        "trigger": {"type": "event", "event": "bench-signup"},
        "goal": {"event": "purchase"},
        "start": "split",
        "steps": {
            "split": {
                "type": "split",
                "branches": [
                    {"name": arm, "weight": 50, "next": step} for arm, step in sends.items()
                ],
            },
            **{
                step: {"type": "send_email", "message": "bench-ab", "next": "end"}
                for step in set(sends.values())
            },
            "end": {"type": "exit"},
        },
    }


EXPERIMENTS = ("message:bench-ab", "journey:bench-ab:split")


def _timestamps(seconds: np.ndarray, present: np.ndarray | None = None) -> np.ndarray:
    """Epoch seconds as COPY text ('2026-01-01T00:00:00Z'), NULL where not ``present``."""
    text = np.datetime_as_string(seconds.astype("datetime64[s]"), timezone="UTC")
    return text if present is None else np.where(present, text, NULL)


@contextmanager
def _phase(name: str) -> Iterator[None]:
    """Say on stderr what the (minutes-long) seeding is doing and how long it took."""
    started = time.perf_counter()
    print(f"  {name}…", end="", file=sys.stderr, flush=True)
    yield
    print(f" {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)


def _copy(table: str, columns: dict[str, np.ndarray]) -> None:
    """COPY column name -> values (all of one length) into ``table`` as text,
    a chunk at a time."""
    from django.db import connection

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    # Python strings: joining numpy's str_ scalars is twice as slow.
    texts = [list(map(str, np.asarray(values).tolist())) for values in columns.values()]
    with (
        _phase(f"COPY {len(texts[0]):,} rows into {table}"),
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,
    ):
        for start in range(0, len(texts[0]), CHUNK):
            rows = zip(*(t[start : start + CHUNK] for t in texts), strict=True)
            copy.write("".join("\t".join(row) + "\n" for row in rows))


def _ids(query: str) -> np.ndarray:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(query)
        return np.array([row[0] for row in cursor.fetchall()], dtype=np.int64)


def _fixtures(document: dict[str, Any]) -> tuple[int, dict[str, int], int, int]:
    """The message, its variants and the live journey, through the services."""
    from campaigns.models import Message, Variant
    from customers.models import Topic
    from journeys.services import journey_activate, journey_save

    message = Message.objects.create(
        key="bench-ab", name="Bench A/B", topic=Topic.objects.get(key="email_marketing")
    )
    variants = {
        key: Variant.objects.create(
            message=message, key=key, subject=f"Subject {key}", html_body="<p>x</p>"
        ).pk
        for key in ("A", "B")
    }
    version = journey_save(document=document)
    journey_activate(journey=version.journey)
    return message.pk, variants, version.journey_id, version.pk


def seed(
    deliveries: int, events: int, rng: np.random.Generator, *, shared: bool, recorded: bool
) -> dict[str, Any]:
    from bench.ingest import customers_copy
    from campaigns.models import Conversion, Delivery
    from customers.models import Event
    from journeys.models import Enrollment

    started = time.perf_counter()
    n = deliveries
    document = journey(shared=shared)
    message_id, variant_ids, journey_id, version_id = _fixtures(document)
    with _phase(f"COPY {n:,} customers"):
        customers_copy(emails=[f"ab-{i}@bench.test" for i in range(n)])
    customer = _ids("SELECT id FROM customers_customer ORDER BY id")

    b_variant = rng.random(n) < 0.5
    b_branch = rng.random(n) < 0.5
    branches = document["steps"]["split"]["branches"]
    step_key = np.where(b_branch, branches[1]["next"], branches[0]["next"])
    # As the engine writes them: the enrollment's branches, copied to its email
    # (and from there to the conversion) when it is queued after the split.
    branch = np.where(b_branch, '{"bench-ab:split": "b"}', '{"bench-ab:split": "a"}')
    carried = branch if recorded else np.full(n, NULL)
    sent = START + rng.integers(0, 30 * DAY, n)
    bounced = rng.random(n) < BOUNCED
    reached = ~bounced
    delivered = reached & (rng.random(n) < DELIVERED)
    opened = reached & (rng.random(n) < np.where(b_variant, *HUMAN_OPEN[::-1]))
    machine = reached & (rng.random(n) < MACHINE_OPEN)
    clicked = opened & (rng.random(n) < np.where(b_variant, *CLICK_OF_OPENED[::-1]))
    unsubscribed = reached & (rng.random(n) < UNSUBSCRIBED)
    complained = reached & (rng.random(n) < COMPLAINED)
    converted = reached & (rng.random(n) < np.where(b_variant, *CONVERTED[::-1]))
    opened_at = sent + rng.integers(HOUR, 3 * DAY, n)
    clicked_at = opened_at + rng.integers(60, HOUR, n)
    bought_at = sent + rng.integers(HOUR, 5 * DAY, n)
    clicks = np.where(clicked, rng.integers(1, 3, n), 0)
    opens = np.where(opened, rng.integers(1, 4, n), 0)

    _copy(
        Enrollment._meta.db_table,
        {
            "journey_id": np.full(n, journey_id),
            "version_id": np.full(n, version_id),
            "customer_id": customer,
            "status": np.full(n, "completed"),
            "step": np.full(n, "end"),
            "step_since": _timestamps(sent),
            "visit": np.full(n, 2),
            "entered_at": _timestamps(sent),
            "ended_at": _timestamps(sent),
            "exit_reason": np.full(n, "completed"),
            "converted_at": _timestamps(bought_at, converted),
            "trigger_ref": np.char.add("bench:", customer.astype(str)),
            "branches": branch,
        },
    )
    enrollment = _ids(f"SELECT id FROM {Enrollment._meta.db_table} ORDER BY id")
    _copy(
        Delivery._meta.db_table,
        {
            "customer_id": customer,
            "message_id": np.full(n, message_id),
            "variant_id": np.where(b_variant, variant_ids["B"], variant_ids["A"]),
            "status": np.where(bounced, "bounced", np.where(delivered, "delivered", "sent")),
            "journey_key": np.full(n, "bench-ab"),
            "journey_version": np.full(n, 1),
            "enrollment_id": enrollment,
            "step_key": step_key,
            "visit": np.full(n, 1),
            "branches": carried,
            "queued_at": _timestamps(sent - 60),
            "updated_at": _timestamps(sent),
            "attempts": np.full(n, 1),
            "provider_message_id": np.char.add("pm-", np.arange(n).astype(str)),
            "error": np.full(n, ""),
            "sent_at": _timestamps(sent),
            "opened_at": _timestamps(opened_at, opened),
            "open_count": opens,
            "machine_opened_at": _timestamps(sent + 2, machine),
            "clicked_at": _timestamps(clicked_at, clicked),
            "click_count": clicks,
            "unsubscribed_at": _timestamps(opened_at + 60, unsubscribed),
            "delivered_at": _timestamps(sent + 5, delivered),
            "bounced_at": _timestamps(sent + 60, bounced),
            "complained_at": _timestamps(opened_at + 120, complained),
        },
    )
    delivery = _ids(f"SELECT id FROM {Delivery._meta.db_table} ORDER BY id")

    # Tracking events: every purchase and click, and opens (human repeats and
    # machine fetches) to make up the total.
    buyers = np.flatnonzero(converted)
    clickers = np.repeat(np.arange(n), clicks)
    openers = np.flatnonzero(opened | machine)
    fill = max(0, events - len(buyers) - len(clickers))
    open_rows = rng.choice(openers, fill) if len(openers) else np.array([], dtype=np.int64)
    who = np.concatenate([buyers, clickers, open_rows])
    names = np.repeat(
        ["purchase", "email_clicked", "email_opened"], [len(buyers), len(clickers), fill]
    )
    at = np.concatenate([bought_at[buyers], clicked_at[clickers], opened_at[open_rows]])
    value = np.round(rng.uniform(10, 200, len(buyers)), 2)
    total = len(who)
    purchases = names == "purchase"
    _copy(
        Event._meta.db_table,
        {
            "customer_id": customer[who],
            "name": names,
            "properties": np.full(total, "{}"),
            "value": np.concatenate(
                [np.char.mod("%.2f", value), np.full(total - len(buyers), NULL)]
            ),
            "currency": np.where(purchases, "EUR", ""),
            "occurred_at": _timestamps(at),
            "received_at": _timestamps(at),
            "idempotency_key": np.char.add("ab-", np.arange(total).astype(str)),
            "routed_at": _timestamps(at),
        },
    )
    purchase = _ids(f"SELECT id FROM {Event._meta.db_table} WHERE name = 'purchase' ORDER BY id")
    _copy(
        Conversion._meta.db_table,
        {
            "event_id": purchase,
            "delivery_id": delivery[buyers],
            "variant_id": np.where(b_variant, variant_ids["B"], variant_ids["A"])[buyers],
            "journey_key": np.full(len(buyers), "bench-ab"),
            "journey_version": np.full(len(buyers), 1),
            "step_key": step_key[buyers],
            "enrollment_id": enrollment[buyers],
            "branches": carried[buyers],
            "value": np.char.mod("%.2f", value),
            "currency": np.full(len(buyers), "EUR"),
            "occurred_at": _timestamps(bought_at[buyers]),
            "credited_at": _timestamps(bought_at[buyers]),
        },
    )
    from django.db import connection

    with _phase("VACUUM ANALYZE"), connection.cursor() as cursor:
        # Fresh tables: statistics for the planner, and a visibility map so
        # index-only scans need not visit the heap.
        cursor.execute("VACUUM ANALYZE")
    return {
        "seed_seconds": round(time.perf_counter() - started, 1),
        "deliveries": n,
        "events": total,
        "conversions": len(buyers),
        "clicked": int(clicked.sum()),
    }


def _best(rounds: int, run) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return round(min(times), 3)


def measure(rounds: int) -> dict[str, Any]:
    from django.core.management import call_command

    from campaigns.analysis.results import experiment_results

    timings = {}
    for key in EXPERIMENTS:
        experiment_results(key)  # warm: imports, parsed journey, connection
        timings[key] = {
            "experiment_results": _best(rounds, lambda key=key: experiment_results(key)),
            "ab_report": _best(
                rounds, lambda key=key: call_command("ab_report", key, stdout=io.StringIO())
            ),
        }
    return timings


def verify(seeded: dict[str, Any]) -> dict[str, bool]:
    """Each experiment accounts for every seeded email, click and conversion once."""
    from campaigns.analysis.results import experiment_results

    checks = {}
    for key in EXPERIMENTS:
        arms = experiment_results(key).arms
        checks[f"{key}: every email counted once"] = (
            sum(arm.sent for arm in arms) == seeded["deliveries"]
        )
        checks[f"{key}: every click counted once"] = (
            sum(arm.metrics["clicks"].count for arm in arms) == seeded["clicked"]
        )
        checks[f"{key}: every conversion credited once"] = (
            sum(arm.conversions for arm in arms) == seeded["conversions"]
        )
    return checks


def run(args: argparse.Namespace) -> dict[str, Any]:
    from bench.ingest import database_recreate

    database_recreate(server_url=args.server_url, database=args.database)
    os.environ["DATABASE_URL"] = f"{args.server_url.rstrip('/')}/{args.database}"
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ.setdefault("DEBUG", "false")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    result: dict[str, Any] = {"scenario": "ab_report"}
    rng = np.random.default_rng(args.seed)
    result.update(
        seed(
            args.deliveries,
            args.events,
            rng,
            shared=args.shared_step,
            recorded=not args.unrecorded,
        )
    )
    result["shared_step"] = args.shared_step
    result["unrecorded"] = args.unrecorded
    # The seeding's arrays are not the report's memory.
    peak_reset()
    result["timings"] = measure(args.rounds)
    result["peak_memory_mb"] = {"ab_report process": peak_rss_mb()}
    slowest = max(t for timing in result["timings"].values() for t in timing.values())
    result["seconds"] = slowest
    result["target_met"] = (
        slowest <= TARGET_SECONDS if args.deliveries >= FULL["deliveries"] else None
    )
    result["checks"] = verify(result)
    result["complete"] = all(result["checks"].values())
    return result


def report(result: dict[str, Any]) -> Iterator[str]:
    shape = "one send step both branches share" if result["shared_step"] else "a send step each"
    if result["unrecorded"]:
        shape += ", emails without their branch (queued before it was recorded)"
    yield (
        f"A/B report, {result['deliveries']:,} deliveries, {result['events']:,} tracking "
        f"events, {result['conversions']:,} conversions, split branches with {shape} "
        f"(seeded in {result['seed_seconds']} s):"
    )
    for key, timing in result["timings"].items():
        yield (
            f"  {key:<24} experiment_results {timing['experiment_results']:.3f} s, "
            f"ab_report {timing['ab_report']:.3f} s (best of the rounds)"
        )
    if result["target_met"] is not None:
        verdict = "met" if result["target_met"] else "MISSED"
        yield f"  target ≤ {TARGET_SECONDS:g} s: {verdict}"
    failed = [name for name, ok in result["checks"].items() if not ok]
    yield "  checks: " + (f"FAILED: {', '.join(failed)}" if failed else "all passed")


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ab_report", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes, for CI")
    parser.add_argument("--deliveries", type=int, help=f"({FULL['deliveries']:,})")
    parser.add_argument("--events", type=int, help=f"tracking events ({FULL['events']:,})")
    parser.add_argument("--rounds", type=int, default=3, help="timed runs, best kept (3)")
    parser.add_argument("--seed", type=int, default=1, help="random seed (1)")
    parser.add_argument(
        "--shared-step",
        action="store_true",
        help="both branches send from one step, so emails are grouped by their branch",
    )
    parser.add_argument(
        "--unrecorded",
        action="store_true",
        help="emails and conversions without their branch, as queued before campaigns "
        "migration 0006: each is joined to its enrollment (the slowest path)",
    )
    where_arguments(parser, database="ladder_bench_ab")
    parser.add_argument(
        "--json-line", action="store_true", help="end with the result as one JSON line"
    )
    args = parser.parse_args(argv)
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    result = run(args)
    print("\n".join(report(result)))
    if args.json_line:
        print(json.dumps(result))
    return 0 if result["complete"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
