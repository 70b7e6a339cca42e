"""What one provider webhook and one open of the pixel cost, in this process.

Seeds a PostgreSQL database of its own as bench.webhooks does, then posts
the webhooks scenario's Postmark stream to anymail's endpoint and requests
every delivery's open pixel through Django's test client: the real URL
configuration, middleware, views and database, no HTTP server. Prints CPU
milliseconds per request of this process (PostgreSQL's work is not in it).
With a broker (the default, as in production) the lifecycle refreshes the
events call for wait in Redis and are not run here; ``--broker ''`` runs
them in the request, as the embedded default does.

    python -m bench.request_profile
    python -m bench.request_profile --broker ''
    python -m bench.request_profile --cprofile 40     # cProfile's top 40 as well
"""

import argparse
import base64
import cProfile
import os
import pstats
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from bench.cli import where_arguments
from bench.ingest import database_recreate

SECRET = "postmark:request-profile"
WARMUP = 50


def _cpu_ms(requests: list[Callable[[], object]], profile: cProfile.Profile | None) -> float:
    started = time.process_time()
    if profile:
        profile.enable()
    for request in requests:
        request()
    if profile:
        profile.disable()
    return 1e3 * (time.process_time() - started) / len(requests)


def run(args: argparse.Namespace) -> None:
    database_recreate(server_url=args.server_url, database=args.database)
    os.environ.update(
        DATABASE_URL=f"{args.server_url.rstrip('/')}/{args.database}",
        ANYMAIL_WEBHOOK_SECRET=SECRET,
        DJANGO_SETTINGS_MODULE="config.settings",
        DEBUG="false",
        LOG_LEVEL="WARNING",
        CELERY_BROKER_URL=args.broker,
        LADDER_REDIS_URL=args.broker,
    )
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.test import Client

    from bench.webhook_stream import stream_build
    from bench.webhooks import TRACKING_PATH, seed, sent_emails
    from campaigns.tokens import open_pixel_url

    call_command("migrate", interactive=False, verbosity=0)
    sent_at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    seed(args.deliveries, sent_at=sent_at)
    emails = sent_emails()
    rng = random.Random(1)
    warmup = stream_build(emails[:WARMUP], sent_at=sent_at, rng=rng)
    stream = stream_build(emails[WARMUP:], sent_at=sent_at, rng=rng, first_id=1_000_000)
    client = Client(HTTP_AUTHORIZATION="Basic " + base64.b64encode(SECRET.encode()).decode())

    def post(body: bytes) -> Callable[[], object]:
        return lambda: client.post(TRACKING_PATH, body, content_type="application/json")

    def pixel(email) -> Callable[[], object]:
        path = open_pixel_url(email.delivery_id).removeprefix(settings.LADDER_SITE_URL)
        return lambda: client.get(path, HTTP_USER_AGENT="Mozilla/5.0")

    for body in warmup.first + warmup.second:
        post(body)()
    for email in emails[:WARMUP]:
        pixel(email)()
    profile = cProfile.Profile() if args.cprofile else None
    webhooks = [post(body) for body in stream.first + stream.second]
    opens = [pixel(email) for email in emails[WARMUP:]]
    mode = "broker" if args.broker else "no broker: refreshes in the request"
    print(f"{len(webhooks):,} webhooks: {_cpu_ms(webhooks, profile):.2f} ms CPU each ({mode})")
    print(f"{len(opens):,} opens:    {_cpu_ms(opens, profile):.2f} ms CPU each")
    if profile:
        pstats.Stats(profile).sort_stats("cumulative").print_stats(args.cprofile)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.request_profile", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--deliveries", type=int, default=600, help="sent deliveries (600)")
    parser.add_argument("--broker", default="redis://127.0.0.1:6379/13", help="'' for none")
    parser.add_argument("--cprofile", type=int, default=0, help="print cProfile's top N")
    where_arguments(parser, database="ladder_bench_requests")
    run(parser.parse_args(argv))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
