"""``python manage.py sweep_lifecycle``: the nightly sweep, now, with a progress bar."""

import sys
import time

from django.core.management.base import BaseCommand
from tqdm import tqdm

from config import clock
from customers.models import Customer
from customers.services.lifecycle import customers_sweep


class Command(BaseCommand):
    help = (
        "Recompute every customer's metrics (engagement, rates, CLV, lapsing) and ladder "
        "stage, as the nightly sweep does. Safe to run at any time, and again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--chunk", type=int, help="customers per transaction (LADDER_SWEEP_CHUNK)"
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    def handle(self, *args, chunk: int | None, no_progress: bool, **options):
        started = time.perf_counter()
        live = Customer.objects.filter(erased_at__isnull=True).count()
        # disable=None lets tqdm switch itself off when stderr is not a terminal.
        with tqdm(
            total=live,
            desc="Sweep",
            unit=" customers",
            unit_scale=True,
            file=sys.stderr,
            disable=True if no_progress else None,
        ) as bar:
            report = customers_sweep(at=clock.now(), chunk=chunk, progress=bar.update)
        seconds = time.perf_counter() - started
        self.stdout.write(
            f"Swept {report.customers:,} customers in {seconds:.1f} s: "
            f"{report.recomputed:,} with new metrics, {report.moved:,} moved on the ladder."
        )
