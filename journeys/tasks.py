"""Celery adapters over the journey engine."""

import time

from celery import shared_task
from django.conf import settings

from campaigns.tasks import deliveries_dispatch
from config import clock
from journeys.engine import TickReport, advance_until, route_and_enroll

#: One advance task stops after this long and leaves the rest to the next tick,
#: so a worker is never tied up for minutes by one task.
ADVANCE_BUDGET_SECONDS = 50


def _send_queued(report: TickReport) -> None:
    """Emails a step just queued go out now rather than at the next tick."""
    if report.sent:
        deliveries_dispatch.delay()


@shared_task
def engine_tick() -> None:
    """Beat: route new activity, then fan advancing and sending out to the workers."""
    route_and_enroll(now=clock.now())
    for _ in range(settings.LADDER_ENGINE_PARALLELISM):
        enrollments_advance.delay()
        deliveries_dispatch.delay()


@shared_task(acks_late=True)
def enrollments_advance() -> None:
    _send_queued(advance_until(now=clock.now(), deadline=time.monotonic() + ADVANCE_BUDGET_SECONDS))


@shared_task
def activity_route() -> None:
    """Kicked after events or stage changes commit, so journeys react at once."""
    now = clock.now()
    route_and_enroll(now=now)
    _send_queued(advance_until(now=now, deadline=time.monotonic() + ADVANCE_BUDGET_SECONDS))
