"""Many commits, one refresh: activity waits in Redis for a real worker to drain it."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from config.redis import redis_client
from customers.lifecycle.pending import PENDING_KEY, SCHEDULED_KEY
from customers.models import Customer
from customers.services.events import EventInput, events_record
from tests.factories import consented_customer
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_activity_of_many_commits_is_refreshed_together_by_a_worker(start_worker, settings):
    settings.LADDER_LIFECYCLE_COALESCE_SECONDS = 3
    redis = redis_client(settings.LADDER_REDIS_URL)
    redis.delete(PENDING_KEY, SCHEDULED_KEY)
    start_worker()
    customers = [consented_customer() for _ in range(3)]

    for n in range(30):  # one commit per event, as provider webhooks come
        events_record(
            events=[
                EventInput(
                    name="purchase",
                    email=customers[n % 3].email,
                    value=Decimal("10.00"),
                    currency="EUR",
                    occurred_at=datetime(2026, 11, 1 + n, tzinfo=UTC),
                    idempotency_key=f"order-{n}",
                )
            ]
        )

    # 33 commits (3 consents, 30 purchases) wait as at most two pairs per customer.
    waiting = {member.decode() for member in redis.smembers(PENDING_KEY)}
    assert {f"{c.pk} purchase" for c in customers} <= waiting
    assert len(waiting) <= 6
    assert set(Customer.objects.values_list("orders_count", flat=True)) == {0}

    wait_for(
        lambda: set(Customer.objects.values_list("orders_count", flat=True)) == {10},
        timeout=30,
        what="the worker's refresh",
    )
    assert redis.scard(PENDING_KEY) == 0
    assert {c.stage for c in Customer.objects.all()} == {"loyal"}  # ten orders this year
