"""``python manage.py run_engine``: the journey engine in the foreground.

Without options it runs like a worker, ticking every LADDER_ENGINE_TICK_SECONDS.
``--until-idle`` processes everything due now and exits. ``--advance 30d``
runs a simulated clock forward from now, jumping from one due time to the
next (never more than ``--step`` at a time), so thirty days take seconds.
After each tick the queued emails are sent through ``EMAIL_BACKEND``, unless
``--no-send`` leaves them queued (for a worker, or ``send_deliveries``).
"""

import time
from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from campaigns.dispatch import DispatchReport, dispatch_until
from config import clock
from journeys.document import parse_duration
from journeys.engine import TickReport, advance_until, next_due_at, route_and_enroll, run_until_idle


class Command(BaseCommand):
    help = "Run the journey engine: forever, until idle, or over a simulated period."

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument("--until-idle", action="store_true", help="process what is due, exit")
        mode.add_argument(
            "--advance",
            metavar="DURATION",
            help="simulate this much time from now, e.g. 30d or 12h",
        )
        parser.add_argument(
            "--step",
            default="1h",
            help="with --advance: largest jump of the simulated clock (default 1h)",
        )
        parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
        parser.add_argument(
            "--no-send", action="store_true", help="leave queued emails for the workers"
        )

    def handle(
        self,
        *args,
        until_idle: bool,
        advance: str | None,
        step: str,
        no_progress: bool,
        no_send: bool,
        **options,
    ):
        send = not no_send
        if until_idle:
            report = run_until_idle(now=clock.now())
            self._report(report, dispatch_until() if send else None)
        elif advance:
            try:
                span, largest = parse_duration(advance), parse_duration(step)
            except ValueError as exc:
                raise CommandError(str(exc)) from None
            self._report(*simulate(span, largest, progress=not no_progress, send=send))
        else:
            self._forever(send=send)

    def _forever(self, *, send: bool) -> None:
        self.stdout.write(
            f"Journey engine running; tick every {settings.LADDER_ENGINE_TICK_SECONDS}s."
        )
        while True:
            now = clock.now()
            report = route_and_enroll(now=now)
            report.add(advance_until(now=now))
            sending = dispatch_until() if send else None
            if not report.idle or (sending and not sending.idle):
                self._report(report, sending)
            time.sleep(settings.LADDER_ENGINE_TICK_SECONDS)

    def _report(self, report: TickReport, sending: DispatchReport | None) -> None:
        line = (
            f"routed {report.routed:,} · enrolled {report.enrolled:,} · "
            f"advanced {report.advanced:,} · emails queued {report.sent:,} · "
            f"left segment {report.left_segment:,}"
        )
        if sending is not None:
            line += (
                f" · emails sent {sending.sent:,} · skipped {sending.skipped:,} · "
                f"failed {sending.failed:,} · to retry {sending.retried:,}"
            )
        self.stdout.write(line)


def simulate(
    span: timedelta, largest_step: timedelta, *, progress: bool = True, send: bool = True
) -> tuple[TickReport, DispatchReport | None]:
    """Run the real engine (and dispatch) on a virtual clock from now to now + ``span``."""
    report = TickReport()
    sending = DispatchReport() if send else None
    start = clock.now()
    end = start + span
    with (
        clock.simulated(start) as sim,
        tqdm(
            total=int(span.total_seconds()),
            unit="s",
            unit_scale=True,
            desc="Simulating",
            disable=None if progress else True,
        ) as bar,
    ):
        while True:
            report.add(run_until_idle(now=sim.now))
            if sending is not None:
                sending.add(dispatch_until())
            if sim.now >= end:
                return report, sending
            due = next_due_at()
            target = min(end, sim.now + largest_step, max(due, sim.now) if due else end)
            target = max(target, sim.now + timedelta(seconds=1))
            bar.update(int((min(target, end) - sim.now).total_seconds()))
            sim.set(min(target, end))
