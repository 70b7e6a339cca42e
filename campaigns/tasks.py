"""Celery adapters over dispatch."""

import time

from celery import shared_task

from campaigns.dispatch import dispatch_until

#: One dispatch task stops after this long and leaves the rest to the next
#: tick, so a worker is never tied up for minutes by one task.
DISPATCH_BUDGET_SECONDS = 50


@shared_task(acks_late=True)
def deliveries_dispatch() -> None:
    """Send what is queued and due. Safe to run many at once: claims never overlap."""
    dispatch_until(deadline=time.monotonic() + DISPATCH_BUDGET_SECONDS)
