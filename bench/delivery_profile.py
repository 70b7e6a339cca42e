"""Where a delivery's time goes: ``dispatch_batch`` in this process, step by step.

Seeds a database of its own the way bench.delivery does, starts the Postmark
sink in a process of its own, and calls ``dispatch_batch`` until the queue is
empty with a timer around each step of the flow (claim, contexts, tokens,
render and its parts, links, compose, hand-over, backend payload, HTTP,
record). Prints microseconds per message, wall time in this process; the
sink's and PostgreSQL's CPU per message come from /proc.

    python -m bench.delivery_profile --backend batch --deliveries 5000
    python -m bench.delivery_profile --backend per-message
    python -m bench.delivery_profile --backend eml --database sqlite   # the embedded default
    python -m bench.delivery_profile --backend batch --cprofile 30     # cProfile's top 30 instead
    python -m bench.delivery_profile --backend batch --sql 12          # the 12 costliest statements

One warm-up batch (template compiling, link registration) runs before the
clock; then the start-up objects are frozen out of the garbage collector's
sight, as Ladder's Celery workers do, and the collector's own time is shown.
"""

import argparse
import cProfile
import functools
import io
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from bench.cli import at_least, positive, server_url_argument

BACKENDS = {
    "batch": "campaigns.backends.postmark_batch.EmailBackend",
    "per-message": "anymail.backends.postmark.EmailBackend",
    "eml": "config.mail.EmlOutboxBackend",
}

#: step -> [wall seconds, CPU seconds of this process, calls]; filled by the timers.
TIMES: dict[str, list[float]] = defaultdict(lambda: [0.0, 0.0, 0])


def timed(name: str, function, *, key=None):
    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        label = key(*args, **kwargs) if key else name
        cpu, started = time.process_time(), time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            entry = TIMES[label]
            entry[0] += time.perf_counter() - started
            entry[1] += time.process_time() - cpu
            entry[2] += 1

    return wrapper


def patch(owner, attribute: str, name: str, **kwargs) -> None:
    setattr(owner, attribute, timed(name, getattr(owner, attribute), **kwargs))


def instrument() -> None:
    """Timers around every step; nested ones are reported inside their parent."""
    import requests
    from django.core.mail import EmailMessage

    import campaigns.rendering.layout as layout
    import campaigns.rendering.links as render_links
    import campaigns.rendering.render as render
    from campaigns.dispatch import links, send
    from config import mail
    from config.mail import EmlOutboxBackend

    patch(send, "deliveries_claim", "claim (lock, customers, consent, suppression, lease)")
    patch(send, "recent_events", "contexts: recent_events query")
    patch(send, "context_of", "contexts: context_of")
    for name in ("unsubscribe_url", "preferences_url", "open_pixel_url"):
        patch(send, name, "tokens: unsubscribe, preferences, open pixel")
    patch(send, "render_email", "render_email")
    patch(links, "click_url", "  click_url signing (inside render)")
    patch(
        render,
        "_stream",
        "",
        key=lambda *args, **kwargs: f"  jinja: {args[2] if len(args) > 2 else kwargs['part']}",
    )
    patch(layout, "inline_css", "  css inline")
    patch(render_links, "check_and_track", "  links: check_and_track")
    patch(render, "tidy", "  text: tidy")
    patch(render_links, "check_text", "  links: check_text")
    patch(links.BatchLinks, "register", "links: register")
    patch(links.BatchLinks, "fill", "links: fill placeholders")
    build = timed("compose (OutboundEmail: headers, Message-ID)", send.OutboundEmail.build.__func__)
    send.OutboundEmail.build = classmethod(build)
    patch(send, "_hand_over", "hand over (UPDATE … SENDING)")
    patch(send, "_record", "record (bulk UPDATE of outcomes)")
    from anymail.backends.base import AnymailBaseBackend

    from campaigns.backends.postmark_batch import EmailBackend as BatchBackend

    patch(AnymailBaseBackend, "send_messages", "backend: send_messages")
    patch(BatchBackend, "send_messages", "backend: send_messages")
    patch(EmlOutboxBackend, "send_messages", "backend: send_messages")
    patch(BatchBackend, "send_outbound", "backend: send_outbound")
    patch(EmlOutboxBackend, "send_outbound", "backend: send_outbound")
    patch(mail, "alternative_email", "  MIME bytes (config.mime)")
    patch(requests.Session, "request", "  HTTP round trip (requests)")
    patch(EmailMessage, "message", "  MIME message build")


#: statement (whitespace folded, first SQL_KEY characters) -> [wall seconds, calls]
STATEMENTS: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
SQL_KEY = 100


def timed_statement(execute, sql, params, many, context):
    """A Django execute wrapper: the wall time of each statement, PostgreSQL's
    work and the driver's together (on loopback, little else)."""
    started = time.perf_counter()
    try:
        return execute(sql, params, many, context)
    finally:
        entry = STATEMENTS[" ".join(sql.split())[:SQL_KEY]]
        entry[0] += time.perf_counter() - started
        entry[1] += 1


def setup(args: argparse.Namespace, sink_url: str, workdir: Path) -> None:
    os.environ.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        LADDER_FREQUENCY_CAP_PER_DAY="0",
        LADDER_FREQUENCY_CAP_PER_WEEK="0",
        LADDER_QUIET_HOURS="",
        LADDER_SEND_RATE="0",
        EMAIL_BACKEND=BACKENDS[args.backend],
        ANYMAIL_IGNORE_UNSUPPORTED_FEATURES="true",  # see bench.delivery: two tags
        ANYMAIL_POSTMARK_SERVER_TOKEN="postmark-sink-token",
        ANYMAIL_POSTMARK_API_URL=sink_url,
        EMAIL_OUTBOX_DIR=str(workdir / "outbox"),
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    os.environ.pop("LADDER_REDIS_URL", None)
    if args.database == "sqlite":
        os.environ.pop("DATABASE_URL", None)
        os.environ["LADDER_VAR_DIR"] = str(workdir)
    else:
        from bench.ingest import database_recreate

        name = "ladder_bench_delivery_profile"
        database_recreate(server_url=args.server_url, database=name)
        os.environ["DATABASE_URL"] = f"{args.server_url.rstrip('/')}/{name}"
    import django

    django.setup()
    from django.core.management import call_command

    from bench import delivery

    call_command("migrate", interactive=False, verbosity=0)
    delivery.seed(customers=args.deliveries, seed=1)
    delivery.deliveries_requeue(args.deliveries)


#: The first batch (LADDER_DISPATCH_BATCH, 500) is a warm-up, so fewer times nothing.
MIN_DELIVERIES = 1000


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.delivery_profile", description=__doc__)
    parser.add_argument("--backend", choices=list(BACKENDS), default="batch")
    parser.add_argument(
        "--deliveries",
        type=at_least(MIN_DELIVERIES),
        default=5000,
        help=f"queued (5,000; at least {MIN_DELIVERIES:,}: the first batch is a warm-up)",
    )
    parser.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    server_url_argument(parser)
    instead = parser.add_mutually_exclusive_group()
    instead.add_argument(
        "--cprofile", type=positive, default=0, help="print cProfile's top N instead"
    )
    instead.add_argument(
        "--sql",
        type=positive,
        default=0,
        help="print the N statements that took longest instead",
    )
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse_args(argv)

    from bench.delivery import CpuMeter
    from bench.delivery_sink import spawn

    with (
        tempfile.TemporaryDirectory(prefix="ladder-delivery-profile-") as tmp,
        spawn() as (
            sink,
            sink_pid,
        ),
    ):
        setup(args, sink.url, Path(tmp))
        from django.conf import settings

        from campaigns.dispatch import dispatch_batch

        warm = dispatch_batch()  # compile the templates, register the links
        import gc

        from config import collector

        gc_time = [0.0, 0, 0.0]

        def _gc(phase, info):
            if phase == "start":
                gc_time[2] = time.process_time()
            else:
                gc_time[0] += time.process_time() - gc_time[2]
                gc_time[1] += 1

        gc.callbacks.append(_gc)
        collector.settle()  # as Ladder's Celery workers do once started
        if args.sql:
            from django.db import connection

            connection.execute_wrappers.append(timed_statement)
        elif not args.cprofile:
            instrument()
        profiler = cProfile.Profile() if args.cprofile else None
        database = settings.DATABASES["default"]["NAME"]
        meter = CpuMeter(str(database), args.server_url) if args.database != "sqlite" else None
        if meter:
            meter.watch(sink_pid, "sink")
            meter.__enter__()
        sent = 0
        cpu, started = time.process_time(), time.perf_counter()
        if profiler:
            profiler.enable()
        while True:
            report = dispatch_batch()
            sent += report.sent
            if report.idle:
                break
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if meter:
            meter.__exit__(None, None, None)

    per = 1e6 / max(1, sent)
    print(f"garbage collector: {gc_time[1]} runs, {gc_time[0] * per:.0f} µs CPU per message")
    print(
        f"\n{args.backend} on {args.database}: {sent:,} sent after a warm-up batch of "
        f"{warm.sent}, {sent / wall:,.0f} msg/s in one process; {wall * per:,.0f} µs wall and "
        f"{cpu * per:,.0f} µs CPU per message in this process"
    )
    if meter:
        used = meter.used()
        print(
            "  other processes per message (CPU µs): "
            + ", ".join(f"{k} {v * per:,.0f}" for k, v in used.items() if k != "bench")
        )
    if args.sql:
        print(f"\n{'wall µs':>7} {'calls':>6}  statement (first {SQL_KEY} characters)")
        ranked = sorted(STATEMENTS.items(), key=lambda item: -item[1][0])
        for statement, (seconds, calls) in ranked[: args.sql]:
            print(f"{seconds * per:7.1f} {calls:6,}  {statement}")
        total = sum(seconds for seconds, _ in STATEMENTS.values())
        print(f"{total * per:7.1f} {'':6}  all statements, per message")
        return 0
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.cprofile)
        print(out.getvalue())
        return 0
    # CPU time is what a step costs; wall time adds waiting (PostgreSQL, the sink)
    # and, on a busy machine, other processes' turns.
    print(f"\n{'step':58} {'CPU µs':>7} {'share':>6} {'wall µs':>8} {'calls':>7}")
    accounted = [0.0, 0.0]
    for name, (seconds, cpu_seconds, calls) in sorted(
        TIMES.items(), key=lambda item: _order(item[0])
    ):
        if not name.startswith("  "):
            accounted[0] += seconds
            accounted[1] += cpu_seconds
        print(
            f"{name:58} {cpu_seconds * per:7.0f} {cpu_seconds / cpu:6.1%} "
            f"{seconds * per:8.0f} {calls:7,}"
        )
    rest = "not in a timed step (loop, chunking, outcomes, …)"
    print(f"{rest:58} {(cpu - accounted[1]) * per:7.0f} {'':6} {(wall - accounted[0]) * per:8.0f}")
    print(f"{'total per message, this process':58} {cpu * per:7.0f} {'':6} {wall * per:8.0f}")
    return 0


_ORDER = [
    "claim",
    "contexts",
    "tokens",
    "render_email",
    "  jinja",
    "  click_url",
    "  links",
    "  css",
    "  text",
    "links",
    "compose",
    "hand over",
    "backend",
    "  HTTP",
    "  MIME",
    "record",
]


def _order(name: str) -> tuple[int, str]:
    for n, prefix in enumerate(_ORDER):
        if name.startswith(prefix):
            return n, name
    return len(_ORDER), name


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
