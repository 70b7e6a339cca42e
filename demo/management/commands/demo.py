"""``python manage.py demo``: a store, its journeys, and thirty simulated days of customers.

See docs/demo.md. ``make demo`` runs it with ``--fresh``.
"""

import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, connections
from tqdm import tqdm

from config import clock
from customers.models import Customer
from demo.report import report_gather, report_html, stage_counts, stopwatch_lines, summary_lines
from demo.seed import store_seed
from demo.simulation import Month
from demo.stopwatch import Stopwatch
from demo.worker import TickWorker

#: The demo's admin login, printed at the end; never created in production.
DEMO_ADMIN = ("admin", "ladder-demo")
#: Where the example messages and journeys are kept.
EXAMPLES = Path(settings.BASE_DIR) / "examples"


def _date(value: str) -> datetime:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise CommandError(f"--start {value!r}: expected a date like 2026-03-01") from None


class Command(BaseCommand):
    help = (
        "Seed a demo store, load the example journeys and messages, run them for simulated "
        "days with customers who open, click, buy and unsubscribe through Ladder's URLs, "
        "and report (see docs/demo.md)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=5000, help="store size (5,000)")
        parser.add_argument("--days", type=int, default=30, help="simulated days (30)")
        parser.add_argument(
            "--signups-per-day", type=int, default=90, help="new customers a day (about 90)"
        )
        parser.add_argument("--seed", type=int, default=2026, help="random seed (2026)")
        parser.add_argument(
            "--start",
            type=_date,
            help="first simulated day, YYYY-MM-DD (default: DAYS days before today, so the "
            "month ends now)",
        )
        parser.add_argument(
            "--fresh",
            action="store_true",
            help="start from a new embedded SQLite database: delete it, migrate again, and "
            "empty the outbox (make demo does this)",
        )
        parser.add_argument(
            "--report",
            type=Path,
            default=None,
            help="where to write the HTML report (default var/demo/report.html)",
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bars")

    def handle(self, *args, **options):
        if settings.PRODUCTION:
            raise CommandError("The demo makes up customers and an admin login: not in production.")
        if options["customers"] < 1 or options["days"] < 1 or options["signups_per_day"] < 0:
            raise CommandError("--customers and --days must be at least 1, --signups-per-day 0.")
        began = time.monotonic()
        if options["fresh"]:
            self._fresh()
        elif Customer.objects.exists():
            raise CommandError(
                "The database already has customers. The demo starts from an empty one: run "
                "`make demo`, or `python manage.py demo --fresh` on the embedded SQLite database."
            )
        demo_dir = Path(settings.VAR_DIR) / "demo"
        report_path = options["report"] or demo_dir / "report.html"
        days = options["days"]
        today = clock.now().replace(hour=0, minute=0, second=0, microsecond=0)
        start = options["start"] or today - timedelta(days=days)
        # None: tqdm shows the bars on a terminal only.
        show = True if options["no_progress"] else None

        stopwatch = Stopwatch()
        worker = TickWorker(stopwatch)
        with worker.collecting(), clock.simulated(start - timedelta(hours=1)) as simulation:
            with tqdm(total=options["customers"], desc="Seeding the store", unit=" customers",
                      disable=show) as bar, stopwatch.timing("seeding the store"):  # fmt: skip
                seeded = store_seed(
                    count=options["customers"], seed=options["seed"], now=simulation.now,
                    progress=bar.update,
                )  # fmt: skip
                worker.run()  # the ladder places everyone: one refresh of the whole store
            before = stage_counts()
            simulation.set(start)
            with stopwatch.timing("import_messages, import_journey (examples/)"):
                loaded = self._examples()
            month = Month(
                seed=options["seed"],
                personas=seeded.personas,
                worker=worker,
                outbox=Path(settings.EMAIL_OUTBOX_DIR),
                signups_dir=demo_dir / "signups",
                signups_per_day=options["signups_per_day"],
            )
            with tqdm(total=days * 24, desc=f"Simulating {days} days", unit=" hours",
                      disable=show) as bar:  # fmt: skip
                month.run(
                    simulation,
                    days=days,
                    progress=lambda tick, tally: (bar.update(tick // timedelta(hours=1)),
                        bar.set_postfix(emails=tally.counts["emails received"], refresh=False)),
                )  # fmt: skip
            with stopwatch.timing("reading the results"):
                report = report_gather(
                    start=start,
                    end=simulation.now,
                    seed=options["seed"],
                    seeded=seeded,
                    before=before,
                    tally=month.tally,
                    loaded=loaded,
                    fresh=options["fresh"],
                    stopwatch=stopwatch,
                )
        report_path.parent.mkdir(parents=True, exist_ok=True)
        with stopwatch.timing("the HTML report and its charts"):
            report_path.write_text(report_html(report), encoding="utf-8")
        self.stdout.write("\n".join(summary_lines(report, report_path=report_path)))
        if options["verbosity"] >= 2:
            self.stdout.write("\n".join(["", *stopwatch_lines(stopwatch)]))
        self._admin_login()
        self.stdout.write(f"\nDone in {time.monotonic() - began:.0f} s.")
        if report.problems:
            raise CommandError("\n".join(report.problems))

    def _fresh(self) -> None:
        """Delete the embedded SQLite database and the outbox, migrate a new database."""
        if connection.vendor != "sqlite":
            raise CommandError(
                "--fresh only deletes the embedded SQLite database; for PostgreSQL, create an "
                "empty database and run the demo without --fresh."
            )
        name = Path(settings.DATABASES["default"]["NAME"])
        connections.close_all()
        for path in (name, Path(f"{name}-wal"), Path(f"{name}-shm")):
            path.unlink(missing_ok=True)
        outbox = Path(settings.EMAIL_OUTBOX_DIR)
        for path in outbox.glob("*.eml") if outbox.exists() else ():
            path.unlink()
        for path in (Path(settings.VAR_DIR) / "demo" / "signups").glob("*.csv"):
            path.unlink()
        self.stdout.write(
            f"Starting from a clean demo database: deleted {name} and the emails in {outbox}."
        )
        call_command("migrate", verbosity=0, interactive=False)

    def _examples(self) -> dict[str, list[str]]:
        """The example messages and journeys, through the commands a user would type."""
        out = StringIO()
        call_command("import_messages", EXAMPLES / "messages", stdout=out)
        journeys = sorted((EXAMPLES / "journeys").glob("*.json"))
        for path in journeys:
            call_command("import_journey", path, activate=True, stdout=out)
        return {
            "messages": sorted(p.stem for p in (EXAMPLES / "messages").glob("*.toml")),
            "journeys": [p.stem for p in journeys],
        }

    def _admin_login(self) -> None:
        username, password = DEMO_ADMIN
        User = get_user_model()
        if not User.objects.filter(username=username).exists():
            User.objects.create_superuser(username, "admin@ladder.localhost", password)
        self.stdout.write(
            f"\nAdmin: `make run`, then http://127.0.0.1:8000/admin/ "
            f"(user {username}, password {password})"
        )
