"""``python manage.py send_deliveries``: send the outbox in the foreground.

Workers do this on their own (``campaigns.tasks.deliveries_dispatch``, kicked
by the engine); the command is for the embedded default, for a one-off
catch-up, and for operators who want to watch a send. ``--until-idle`` sends
what is due and exits; without it the command keeps polling. ``--processes N``
sends with N processes at once (campaigns/dispatch/parallel.py): where no
Celery workers run, the way to use more than one core.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns.dispatch import DispatchReport, deliveries_recover, dispatch_batch
from campaigns.dispatch.claim import deliveries_due_count
from campaigns.dispatch.parallel import dispatch_parallel
from config import clock, collector

#: Seconds between polls of an empty outbox.
POLL_SECONDS = 5


class Command(BaseCommand):
    help = "Send queued deliveries through EMAIL_BACKEND, with a progress bar."

    def add_arguments(self, parser):
        parser.add_argument("--until-idle", action="store_true", help="send what is due, exit")
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--processes", type=int, default=1, help="send with this many processes at once (1)"
        )

    def handle(self, *args, until_idle: bool, no_progress: bool, processes: int, **options):
        if processes < 1:
            raise CommandError(f"--processes must be at least 1, not {processes}")
        # A long-running sender, like a worker (config.collector).
        collector.settle()
        while True:
            recovered = deliveries_recover()
            if recovered:
                self.stderr.write(
                    f"{recovered} deliveries were left mid-send by a stopped worker and are now "
                    "UNKNOWN: see the admin's delivery list."
                )
            report = self._drain(progress=not no_progress, processes=processes)
            if not report.idle:
                self.stdout.write(
                    f"sent {report.sent:,} · skipped {report.skipped:,} · "
                    f"deferred {report.deferred:,} · failed {report.failed:,} · "
                    f"to retry {report.retried:,}"
                )
            if until_idle:
                return
            time.sleep(POLL_SECONDS)

    def _drain(self, *, progress: bool, processes: int) -> DispatchReport:
        report = DispatchReport()
        total = deliveries_due_count(now=clock.now())
        with tqdm(total=total, unit="email", desc="Sending", disable=not progress) as bar:
            if processes > 1:
                if not total:  # no processes started (a second or two each) to find nothing
                    return report

                # The sending processes report only when they finish; the bar
                # follows what is left to claim meanwhile.
                def advance() -> None:
                    bar.update(max(0, total - deliveries_due_count(now=clock.now()) - bar.n))

                return dispatch_parallel(processes, progress=advance if progress else None)
            while True:
                batch = dispatch_batch()
                report.add(batch)
                bar.update(batch.claimed + batch.skipped + batch.deferred)
                if batch.idle:
                    return report
