"""``python -m bench`` (``make bench``): every scenario in one run, one results file.

Each scenario runs in a process of its own on a PostgreSQL database of its own
(``<prefix>_<scenario>``, dropped and recreated), so one that fails or hangs
does not hide the others; each ends its output with its result as one JSON
line. The run then writes ``bench/results/<UTC time>.json`` with every
figure, its peer and ratio, the targets of issues #2-#5 and their verdicts,
every correctness check, the peak memory of each worker process, and the
machine, its speed at the start and end (bench/speed.py) and the commit;
and, for scenarios that ran at full size and passed, updates
``bench/latest.json`` and the generated table of docs/performance.md.

A failed check, or a scenario that did not finish, makes the run exit 1. A
missed target does not (it is a figure, reported with its gap); the table says
by how much.

    python -m bench                            # everything at full size (~25-30 min)
    python -m bench --quick                    # every scenario at smoke size (CI)
    python -m bench --scenarios webhooks,ingest --webhook-events 5000
"""

import argparse
import contextlib
import importlib.metadata
import json
import os
import platform
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import report, speed
from bench.cli import at_least, positive, server_url_argument

ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = ROOT / "bench" / "results"
LATEST = ROOT / "bench" / "latest.json"
DOCS = ROOT / "docs" / "performance.md"

#: Sizes of a full run and of the --quick smoke run; explicit flags win over both.
FULL = {
    "ingest_customers": 10_000,
    "events": 200_000,
    "warmup": 8,
    "customers": 1_000_000,
    "due": 100_000,
    "deliveries": 100_000,
    "delivery_naive": 3_000,
    "delivery_post_office": 10_000,
    "delivery_rounds": 3,
    "webhook_events": 5_000,
    "webhook_rounds": 3,
    "ab_deliveries": 1_000_000,
    "ab_events": 3_000_000,
}
QUICK = {
    "ingest_customers": 2_000,
    "events": 10_000,
    "warmup": 4,
    "customers": 20_000,
    "due": 5_000,
    "deliveries": 1_000,
    "delivery_naive": 200,
    "delivery_post_office": 500,
    "delivery_rounds": 1,
    "webhook_events": 200,
    "webhook_rounds": 1,
    "ab_deliveries": 20_000,
    "ab_events": 60_000,
}
#: scenario -> the sizes that make it "full size" (and its targets apply)
SIZES = {
    "ingest": ("ingest_customers", "events"),
    "engine": ("customers", "due"),
    "delivery": ("deliveries", "delivery_naive", "delivery_post_office", "delivery_rounds"),
    "webhooks": ("webhook_events", "webhook_rounds"),
    "ab_report": ("ab_deliveries", "ab_events"),
    "sweep": ("customers",),
}
#: The API's limit (settings.LADDER_API_MAX_BATCH); read here without setting Django up.
MAX_BATCH = 1000
DELIVERY_PATHS = ("batch", "per-message", "naive", "post-office", "embedded")


def _size(parser: argparse.ArgumentParser, name: str, help: str) -> None:
    key = name.removeprefix("--").replace("-", "_")
    parser.add_argument(
        name,
        type=positive,
        metavar="N",
        help=f"{help} ({FULL[key]:,}; {QUICK[key]:,} with --quick)",
    )


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Run every benchmark scenario, each in a process and database of its own, "
        "and write one results file.",
        epilog="Sizes accept 1000000, 1_000_000 or 1,000,000. docs/performance.md says what "
        "each scenario measures.",
    )
    parser.add_argument("--quick", action="store_true", help="smoke-run sizes, for CI")
    parser.add_argument(
        "--scenarios",
        default=",".join(report.SCENARIOS),
        help=f"comma-separated, run in this order ({','.join(report.SCENARIOS)})",
    )
    sizes = parser.add_argument_group("sizes")
    _size(sizes, "--customers", "customers of the engine activation and of the stage sweep")
    _size(sizes, "--due", "due enrollments the engine advances")
    _size(sizes, "--deliveries", "queued deliveries each Ladder delivery path sends")
    _size(sizes, "--delivery-naive", "deliveries the naive peer sends")
    _size(sizes, "--delivery-post-office", "deliveries django-post-office sends")
    _size(sizes, "--delivery-rounds", "interleaved rounds of the delivery paths")
    _size(sizes, "--ingest-customers", "customers seeded for event ingestion")
    _size(sizes, "--events", "events ingested through the HTTP API, in whole batches")
    _size(sizes, "--webhook-events", "webhook posts per round, about")
    _size(sizes, "--webhook-rounds", "interleaved rounds of Ladder and anymail alone")
    _size(sizes, "--ab-deliveries", "deliveries ab_report reads")
    _size(sizes, "--ab-events", "tracking events under those deliveries")

    tuning = parser.add_argument_group("how the scenarios run")
    tuning.add_argument(
        "--warmup", type=at_least(0), help="uncounted ingestion batches (8; 4 with --quick)"
    )
    tuning.add_argument("--batch", type=positive, default=MAX_BATCH, help="events per request")
    tuning.add_argument(
        "--clients", type=positive, default=4, help="concurrent HTTP clients (ingest, webhooks)"
    )
    tuning.add_argument(
        "--workers", type=positive, default=3, help="gunicorn workers (ingest, webhooks)"
    )
    tuning.add_argument(
        "--worker-class", choices=("sync", "gthread"), default="sync", help="gunicorn, ingest"
    )
    tuning.add_argument("--threads", type=positive, default=2, help="per gthread worker")
    tuning.add_argument(
        "--engine-workers", type=positive, default=2, help="Celery workers advancing (2)"
    )
    tuning.add_argument(
        "--delivery-paths",
        default=",".join(DELIVERY_PATHS),
        help="delivery paths, in round order (all five)",
    )
    tuning.add_argument(
        "--time-limit", type=float, default=600, help="seconds ingestion may send (600)"
    )
    tuning.add_argument("--seed", type=int, default=1, help="random seed (1)")

    where = parser.add_argument_group("where")
    server_url_argument(where)
    where.add_argument(
        "--database-prefix",
        default=os.environ.get("BENCH_DATABASE_PREFIX", "ladder_bench"),
        help="each scenario drops and recreates <prefix>_<scenario> (BENCH_DATABASE_PREFIX, "
        "else ladder_bench)",
    )
    where.add_argument(
        "--broker",
        default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/14"),
        help="Redis for the Celery workers (BENCH_BROKER_URL, else redis://127.0.0.1:6379/14)",
    )
    where.add_argument(
        "--scenario-timeout",
        type=positive,
        help="seconds a scenario may take before it is stopped (3,600; 600 with --quick)",
    )
    where.add_argument(
        "--no-docs",
        action="store_true",
        help="do not update bench/latest.json and docs/performance.md",
    )

    args = parser.parse_args(argv)
    args.scenarios = _names(parser, "--scenarios", args.scenarios, report.SCENARIOS)
    args.delivery_paths = _names(parser, "--delivery-paths", args.delivery_paths, DELIVERY_PATHS)
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,40}", args.database_prefix):
        parser.error(
            f"--database-prefix: {args.database_prefix!r} is not a plain PostgreSQL name "
            "(lower-case letters, digits and _, at most 41 characters)"
        )
    if args.batch > MAX_BATCH:
        parser.error(f"--batch: the API takes at most {MAX_BATCH} events per request")
    for name, value in (QUICK if args.quick else FULL).items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    if args.scenario_timeout is None:
        args.scenario_timeout = 600 if args.quick else 3600
    return args


def _names(parser: argparse.ArgumentParser, flag: str, text: str, known: tuple) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"{flag}: unknown {', '.join(unknown)} (known: {', '.join(known)})")
    if not names:
        parser.error(f"{flag}: name at least one of {', '.join(known)}")
    if len(set(names)) != len(names):
        parser.error(f"{flag}: {', '.join(names)} names one twice")
    return names


def full_size(args: argparse.Namespace, scenario: str) -> bool:
    """Whether ``scenario`` runs at least at the sizes its targets are set for."""
    return all(getattr(args, key) >= FULL[key] for key in SIZES[scenario])


def command(args: argparse.Namespace, scenario: str) -> list[str]:
    """The child process that runs one scenario and ends with its JSON line."""
    database = f"{args.database_prefix}_{scenario}"
    where = ["--server-url", args.server_url, "--database", database]
    logs = str(ROOT / "var" / "bench-logs" / scenario)
    argv = {
        "ingest": [
            "--customers", args.ingest_customers, "--events", args.events,
            "--warmup", args.warmup, "--batch", args.batch, "--clients", args.clients,
            "--workers", args.workers, "--worker-class", args.worker_class,
            "--threads", args.threads, "--time-limit", args.time_limit, "--seed", args.seed,
        ],
        "engine": [
            "--customers", args.customers, "--due", args.due,
            "--workers", args.engine_workers, "--broker", args.broker, "--logs", logs,
        ],
        "delivery": [
            "--json-line",
            # It seeds customers for the largest subset any path sends.
            "--customers", max(args.deliveries, args.delivery_naive, args.delivery_post_office),
            "--deliveries", args.deliveries,
            "--embedded", args.deliveries, "--naive", args.delivery_naive,
            "--post-office", args.delivery_post_office, "--rounds", args.delivery_rounds,
            "--paths", ",".join(args.delivery_paths), "--seed", args.seed,
            "--broker", args.broker, "--logs", logs,
        ],
        "webhooks": [
            "--events", args.webhook_events, "--rounds", args.webhook_rounds,
            "--clients", args.clients, "--workers", args.workers, "--seed", args.seed,
            "--broker", args.broker, "--logs", logs,
        ],
        "ab_report": [
            "--json-line", "--deliveries", args.ab_deliveries, "--events", args.ab_events,
            "--seed", args.seed,
        ],
        "sweep": ["--customers", args.customers, "--seed", args.seed],
    }[scenario]  # fmt: skip
    return [sys.executable, "-m", f"bench.{scenario}", *map(str, argv), *where]


def scenario_run(argv: list[str], *, timeout: float) -> dict[str, Any]:
    """Run one scenario's process: its progress (stderr) and its report (stdout)
    pass through as they come; its last line is its result. A process that
    fails without one, or outlives ``timeout``, becomes {"error": …}."""
    process = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
        # Its own process group: on a timeout, gunicorn and Celery workers go too.
        start_new_session=True,
    )
    deadline = time.monotonic() + timeout
    last = ""
    timer = _Watchdog(process, deadline)
    try:
        for line in process.stdout:
            if line.startswith("{"):
                last = line
            else:
                print(line, end="", flush=True)
        process.wait()
    finally:
        timer.cancel()
    if timer.fired:
        return {"error": f"stopped after {timeout:.0f} s (--scenario-timeout)"}
    try:
        result = json.loads(last)
    except json.JSONDecodeError:
        return {"error": f"exited with {process.returncode} before printing its result"}
    result["exit_code"] = process.returncode
    return result


class _Watchdog:
    """Kill a scenario's whole process group once its time is up."""

    def __init__(self, process: subprocess.Popen, deadline: float) -> None:
        self.process = process
        self.fired = False
        self.timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self.timer.daemon = True
        self.timer.start()

    def _fire(self) -> None:
        self.fired = True
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def cancel(self) -> None:
        self.timer.cancel()


class ServerDown(RuntimeError):
    pass


def machine(server_url: str, broker: str) -> dict[str, Any]:
    """What the figures were measured on, so two runs can be told apart."""
    import psycopg

    try:
        with psycopg.connect(f"{server_url.rstrip('/')}/postgres", connect_timeout=10) as conn:
            postgres = conn.execute("SHOW server_version").fetchone()[0]
    except psycopg.OperationalError as exc:
        raise ServerDown(f"PostgreSQL at {server_url} is not reachable: {exc}") from exc
    try:
        import redis

        client = redis.Redis.from_url(broker, socket_connect_timeout=5, socket_timeout=5)
        redis_version = client.info("server")["redis_version"]
    except Exception as exc:  # reported, not fatal: only two scenarios need it
        redis_version = f"unreachable: {exc}"

    def git(*command: str) -> str:
        return subprocess.run(
            ["git", *command], capture_output=True, text=True, check=False, cwd=ROOT
        ).stdout.strip()

    memory_kb = 0
    if Path("/proc/meminfo").exists():
        memory_kb = int(Path("/proc/meminfo").read_text().split()[1])
    return {
        "cpus": os.cpu_count(),
        "memory_gb": round(memory_kb / 1024**2, 1),
        "load_average_at_start": list(os.getloadavg()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "postgres": postgres,
        "redis": redis_version,
        "commit": git("rev-parse", "HEAD") or None,
        "describe": git("describe", "--always", "--dirty") or None,
        "branch": git("rev-parse", "--abbrev-ref", "HEAD") or None,
    }


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    invoked = " ".join(["python -m bench", *map(shlex.quote, argv)])
    started = datetime.now(UTC)
    try:
        info = machine(args.server_url, args.broker)
    except ServerDown as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    info["speed_at_start_us"] = speed.machine_speed()
    info["jinja2"] = importlib.metadata.version("jinja2")
    print(
        f"Machine speed: plain Jinja2 renders the sample body in"
        f" {info['speed_at_start_us']:.0f} µs of CPU (bench/speed.py)",
        flush=True,
    )
    results: dict[str, dict[str, Any]] = {}
    seconds: dict[str, float] = {}
    for number, scenario in enumerate(args.scenarios, 1):
        argv_child = command(args, scenario)
        size = "full size" if full_size(args, scenario) else "smaller than full size"
        print(f"\n=== [{number}/{len(args.scenarios)}] {scenario} ({size})", flush=True)
        print("    " + " ".join(map(shlex.quote, argv_child[1:])), flush=True)
        began = time.monotonic()
        results[scenario] = scenario_run(argv_child, timeout=args.scenario_timeout)
        seconds[scenario] = round(time.monotonic() - began, 1)
        print(f"=== {scenario}: {seconds[scenario]:.0f} s", flush=True)
    info["speed_at_end_us"] = speed.machine_speed()

    built = report.report_build(
        results=results,
        full={name: full_size(args, name) for name in results},
        run={
            "started_at": started.isoformat(timespec="seconds"),
            "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "command": invoked,
            "scenario_seconds": seconds,
            "machine": info,
            "sizes": {key: getattr(args, key) for key in FULL},
            "database_prefix": args.database_prefix,
        },
    )
    RESULTS_DIR.mkdir(exist_ok=True)
    path = RESULTS_DIR / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(built, indent=2) + "\n")

    print("\n=== Summary\n" + "\n".join(report.summary_lines(built)))
    print(f"Machine speed: {speed.speed_range(info)}")
    print(f"\nWritten: {path.relative_to(ROOT)}")
    if not args.no_docs:
        docs_update(built, info)
    print(f"Reproduce: {invoked}")
    return 0 if built["passed"] else 1


def docs_update(built: dict[str, Any], info: dict[str, Any]) -> None:
    """Merge this run's full-size scenarios into bench/latest.json and the docs table."""
    latest = json.loads(LATEST.read_text()) if LATEST.exists() else {}
    run = f"{built['started_at'][:10]}, {info['describe']}, {info['cpus']} CPUs"
    label = f"{run}, {speed.speed_range(info)}"
    merged, replaced = report.latest_merge(latest, built, run_label=label)
    if not replaced:
        print("docs/performance.md unchanged: no scenario ran at full size and passed.")
        return
    DOCS.write_text(report.docs_rewrite(DOCS.read_text(), report.docs_section(merged)))
    LATEST.write_text(json.dumps(merged, indent=2) + "\n")
    print(f"Updated docs/performance.md and bench/latest.json: {', '.join(replaced)}.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
