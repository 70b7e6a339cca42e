"""Celery adapters over the journey engine."""

import time

from celery import shared_task
from django.conf import settings

from config import clock
from journeys.engine import advance_until, route_and_enroll

#: One advance task stops after this long and leaves the rest to the next tick,
#: so a worker is never tied up for minutes by one task.
ADVANCE_BUDGET_SECONDS = 50


@shared_task
def engine_tick() -> None:
    """Beat: route new activity, then fan advancing out to the workers."""
    route_and_enroll(now=clock.now())
    for _ in range(settings.LADDER_ENGINE_PARALLELISM):
        enrollments_advance.delay()


@shared_task(acks_late=True)
def enrollments_advance() -> None:
    advance_until(now=clock.now(), deadline=time.monotonic() + ADVANCE_BUDGET_SECONDS)


@shared_task
def activity_route() -> None:
    """Kicked after events or stage changes commit, so journeys react at once."""
    now = clock.now()
    route_and_enroll(now=now)
    advance_until(now=now, deadline=time.monotonic() + ADVANCE_BUDGET_SECONDS)
