"""``python -m bench``: run the benchmarks, print a table, keep the figures.

Each run also writes bench/results/<UTC timestamp>.json with the machine, the
commit and the exact command, so a figure can be compared with a later one and
reproduced. ``--quick`` is a smoke run small enough for CI.
"""

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from bench import ingest

RESULTS_DIR = Path(__file__).resolve().parent / "results"

#: Sizes of a full run, and of the --quick smoke run; explicit flags win over both.
FULL = {
    "customers": 10_000,
    "events": 200_000,
    "warmup": 8,
    "engine_customers": 1_000_000,
    "engine_due": 100_000,
    "delivery_deliveries": 100_000,
    "delivery_rounds": 3,
}
QUICK = {
    "customers": 2_000,
    "events": 20_000,
    "warmup": 4,
    "engine_customers": 20_000,
    "engine_due": 5_000,
    "delivery_deliveries": 2_000,
    "delivery_rounds": 1,
}

#: The issues' targets for the engine, in seconds (at the full sizes).
ENGINE_TARGETS = {"activation": 60, "advancing": 20}

#: The API's limit (settings.LADDER_API_MAX_BATCH); read here without setting Django up.
MAX_BATCH = 1000

#: Share of the machine other processes may take before the figure is flagged as noisy.
NOISY_LOAD = 0.1

#: Table columns: heading -> key in a scenario's result (or its config).
COLUMNS = {
    "scenario": "scenario",
    "events": "events",
    "seconds": "seconds",
    "events/s": "events_per_second",
    "p50 ms": "batch_ms_p50",
    "p99 ms": "batch_ms_p99",
    "CPU µs/event": "cpu_us_per_event",
    "batch": "batch",
    "workers": "workers",
    "class": "worker_class",
    "clients": "clients",
}


def _at_least(minimum: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, not {value}")
        return value

    return parse


_positive = _at_least(1)


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Event ingestion through the HTTP API (gunicorn) into PostgreSQL.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes, for CI")
    parser.add_argument(
        "--customers", type=_positive, help=f"seeded customers ({FULL['customers']:,})"
    )
    parser.add_argument("--events", type=_positive, help=f"measured events ({FULL['events']:,})")
    parser.add_argument(
        "--warmup", type=_at_least(0), help=f"uncounted warm-up batches ({FULL['warmup']})"
    )
    parser.add_argument(
        "--batch", type=_positive, default=1000, help="events per request, at most 1000 (1000)"
    )
    parser.add_argument("--clients", type=_positive, default=4, help="concurrent connections (4)")
    parser.add_argument("--workers", type=_positive, default=3, help="gunicorn workers (3)")
    parser.add_argument(
        "--worker-class", choices=("sync", "gthread"), default="sync", help="gunicorn (sync)"
    )
    parser.add_argument(
        "--threads", type=_positive, default=2, help="threads per gthread worker (2)"
    )
    parser.add_argument(
        "--time-limit", type=float, default=600, help="seconds the measured phase may take (600)"
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed for the events (1)")
    parser.add_argument(
        "--server-url",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server, no database (BENCH_POSTGRES_URL or postgres@127.0.0.1:5432)",
    )
    parser.add_argument(
        "--database", default="ladder_bench", help="dropped and recreated (ladder_bench)"
    )
    parser.add_argument(
        "--scenarios",
        default="ingest,engine",
        help="comma-separated: ingest, engine, delivery (ingest,engine)",
    )
    parser.add_argument(
        "--engine-customers",
        type=_positive,
        help=f"customers for the activation scenario ({FULL['engine_customers']:,})",
    )
    parser.add_argument(
        "--engine-due",
        type=_positive,
        help=f"due enrollments to advance ({FULL['engine_due']:,})",
    )
    parser.add_argument(
        "--engine-workers", type=_positive, default=2, help="Celery workers advancing (2)"
    )
    parser.add_argument(
        "--delivery-deliveries",
        type=_positive,
        help=f"queued deliveries each Ladder delivery run sends ({FULL['delivery_deliveries']:,})",
    )
    parser.add_argument(
        "--delivery-rounds",
        type=_positive,
        help=f"interleaved rounds of the delivery paths ({FULL['delivery_rounds']})",
    )
    parser.add_argument(
        "--delivery-paths",
        default="batch,per-message,naive,post-office,embedded",
        help="delivery paths, in round order (all five)",
    )
    args = parser.parse_args(argv)
    args.scenarios = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = set(args.scenarios) - {"ingest", "engine", "delivery"}
    if unknown:
        parser.error(f"--scenarios: unknown {', '.join(sorted(unknown))}")
    if args.batch > MAX_BATCH:
        parser.error(f"--batch: the API takes at most {MAX_BATCH} events per request")
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    command = " ".join([".venv/bin/python -m bench", *map(shlex.quote, argv)])
    started_at = datetime.now(UTC)
    results = []
    if "ingest" in args.scenarios:
        results.append(ingest_run(args))
    if "engine" in args.scenarios:
        results.append(engine_run(args))
    if "delivery" in args.scenarios:
        results.append(delivery_run(args))
    print(f"\nReproduce: {command}")

    report = {
        "started_at": started_at.isoformat(timespec="seconds"),
        "command": command,
        "machine": machine(args.server_url),
        "results": results,
    }
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{started_at:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"Written: {path.relative_to(ingest.ROOT)}")
    return 0 if all(result["complete"] for result in results) else 1


def ingest_run(args: argparse.Namespace) -> dict[str, Any]:
    result = ingest.run(
        ingest.IngestConfig(
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
    )
    print_table([result])
    print(f"\nCPU seconds per 1,000 events: {result['cpu_seconds_per_1000_events']}")
    if (result["other_load"] or 0) > NOISY_LOAD:
        print(
            f"\nOther processes took {result['other_load']:.0%} of the CPU during the run: "
            "events/s understates what this machine does alone; CPU µs/event does not."
        )
    if not result["complete"]:
        print(f"\nThe time limit ({args.time_limit:.0f}s) stopped the run early.")
    return result


def engine_run(args: argparse.Namespace) -> dict[str, Any]:
    """The journey engine scenarios, in a process of their own: Django can be set
    up on one database per process, and ingestion already set it up on another."""
    output = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.engine",
            "--customers",
            str(args.engine_customers),
            "--due",
            str(args.engine_due),
            "--workers",
            str(args.engine_workers),
            "--server-url",
            args.server_url,
        ],
        cwd=ingest.ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if output.returncode != 0:
        print(output.stderr[-4000:], file=sys.stderr)
        return {"scenario": "engine", "complete": False, "error": output.stderr[-4000:]}
    result = json.loads(output.stdout.strip().splitlines()[-1])
    activation, advancing = result["activation"], result["advancing"]
    print(f"\nJourney engine, {result['customers']:,} customers:")
    print(
        f"  activation: {activation['enrolled']:,} enrolled in {activation['seconds']} s "
        f"({activation['enrolled_per_second']:,}/s)"
    )
    print(
        f"  advancing:  {advancing['due']:,} enrollments through condition → split → send in "
        f"{advancing['seconds']} s ({advancing['advanced_per_second']:,}/s) with "
        f"{advancing['workers']} Celery workers, peak RSS {advancing['worker_peak_rss_mb']} MB"
    )
    print(f"  checks:     {advancing['checks']}")
    full = args.engine_customers >= FULL["engine_customers"] and (
        args.engine_due >= FULL["engine_due"]
    )
    if full:
        for name, limit in ENGINE_TARGETS.items():
            seconds = result[name]["seconds"]
            verdict = "met" if seconds <= limit else f"MISSED by {seconds - limit:.1f} s"
            print(f"  target {name} ≤ {limit} s: {verdict}")
    return result


def delivery_run(args: argparse.Namespace) -> dict[str, Any]:
    """The delivery scenario, in a process of its own like the engine's (it starts
    workers, a sink and SQLite runs of its own; see bench/delivery.py). Its
    progress goes to stderr as it runs; its table and JSON come back on stdout."""
    deliveries = str(args.delivery_deliveries)
    command = [
        sys.executable, "-m", "bench.delivery", "--json-line",
        "--customers", deliveries, "--deliveries", deliveries, "--embedded", deliveries,
        "--rounds", str(args.delivery_rounds), "--paths", args.delivery_paths,
        "--server-url", args.server_url,
    ]  # fmt: skip
    if args.quick:
        command.append("--quick")  # the naive and post-office subsets' quick sizes
    output = subprocess.run(
        command, cwd=ingest.ROOT, stdout=subprocess.PIPE, text=True, check=False
    )
    lines = output.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1])
    except (IndexError, json.JSONDecodeError):
        return {"scenario": "delivery", "complete": False, "error": output.stdout[-4000:]}
    print("\n".join(line for line in lines[:-1] if not line.startswith("Reproduce:")))
    return result


def print_table(results: list[dict[str, Any]]) -> None:
    rows = [list(COLUMNS)]
    for result in results:
        values = {**result["config"], **result}
        rows.append([_cell(values[key]) for key in COLUMNS.values()])
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    print()
    for n, row in enumerate(rows):
        print("  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True)))
        if n == 0:
            print("  ".join("-" * width for width in widths))


def _cell(value: object) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def machine(server_url: str) -> dict[str, Any]:
    """What the figures were measured on, so two runs can be told apart."""
    with psycopg.connect(f"{server_url.rstrip('/')}/postgres") as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]
    commit = subprocess.run(
        ["git", "describe", "--always", "--dirty"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ingest.ROOT,
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": postgres,
        "commit": commit or None,
    }


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
