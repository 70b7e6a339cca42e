"""Two real Celery workers advancing the same journey on PostgreSQL + Redis.

Each worker claims due enrollments with SELECT … FOR UPDATE SKIP LOCKED, in
small batches so that they really contend. Duplicated tasks are sent on
purpose. Afterwards every enrollment must have been advanced exactly once:
one outbox row per enrollment, and step counters that add up to the number
of enrollments (a double advance would count twice).
"""

from collections import Counter

import pytest
from django.db.models import Count

from campaigns.models import Delivery
from customers.models import ConsentSource, ConsentStatus, Customer
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from journeys.models import Enrollment, StepCount
from journeys.services import journey_activate, journey_save
from journeys.tasks import enrollments_advance
from tests.factories import email_marketing
from tests.integration.conftest import wait_for
from tests.journeys.documents import steps

pytestmark = pytest.mark.integration

CUSTOMERS = 2000


def test_two_workers_never_advance_an_enrollment_twice(start_worker, messages):
    customers = Customer.objects.bulk_create(
        Customer(email=f"c{n}@example.com", email_hash=f"h{n}") for n in range(CUSTOMERS)
    )
    topic = email_marketing()
    consents_record(
        changes=[
            ConsentChange(c, topic, ConsentStatus.GRANTED, ConsentProof(ConsentSource.IMPORT))
            for c in customers
        ]
    )
    document = steps(
        "check",
        check={
            "type": "condition",
            "rule": {"field": "email", "op": "contains", "value": "1"},
            "then": "split",
            "else": "split",
        },
        split={
            "type": "split",
            "branches": [
                {"name": "a", "weight": 50, "next": "send"},
                {"name": "b", "weight": 50, "next": "send"},
            ],
        },
        send={"type": "send_email", "message": "m", "next": "end"},
        end={"type": "exit"},
    ) | {"frequency_cap": {"per_day": None, "per_week": None}}
    version = journey_save(document=document)
    assert journey_activate(journey=version.journey) == CUSTOMERS

    start_worker("w1", LADDER_ENGINE_BATCH="50")
    start_worker("w2", LADDER_ENGINE_BATCH="50")
    for _ in range(6):  # more tasks than workers: duplicates must be harmless
        enrollments_advance.delay()

    wait_for(
        lambda: not Enrollment.objects.filter(status="active").exists(),
        timeout=120,
        what="every enrollment to finish",
    )
    assert Enrollment.objects.filter(status="completed").count() == CUSTOMERS
    assert Delivery.objects.count() == CUSTOMERS
    per_enrollment = Delivery.objects.values("enrollment_id").annotate(n=Count("id"))
    assert {row["n"] for row in per_enrollment} == {1}
    counts = Counter({(c.step, c.outcome): c.count for c in StepCount.objects.all()})
    assert counts["check", "then"] + counts["check", "else"] == CUSTOMERS
    assert counts["split", "a"] + counts["split", "b"] == CUSTOMERS
    assert counts["send", "sent"] == CUSTOMERS
    assert abs(counts["split", "a"] - CUSTOMERS / 2) < CUSTOMERS * 0.05
