"""Helpers for analysis tests: deliveries, conversions and enrollments written
directly, in the shape the analysis reads them."""

import itertools
import uuid
from datetime import timedelta

from campaigns.models import Conversion, Delivery, Message
from customers.models import ConsentSource, Customer, Event
from customers.services.consent import ConsentProof, consent_grant
from journeys.models import Enrollment, Journey
from tests.factories import email_marketing
from tests.journeys.helpers import T0

#: Numbers customers made here. Not CustomerFactory: these tests make hundreds,
#: which would move its sequence, and other tests' expected emails count on it.
_numbers = itertools.count()

#: Delivery column set -> when it happened, relative to the send.
TRACKED = {
    "delivered": ("delivered_at", timedelta(seconds=5)),
    "opened": ("opened_at", timedelta(hours=1)),
    "clicked": ("clicked_at", timedelta(hours=2)),
    "unsubscribed": ("unsubscribed_at", timedelta(hours=3)),
    "complained": ("complained_at", timedelta(hours=4)),
}


def customers(count: int) -> list[Customer]:
    return Customer.objects.bulk_create(
        [Customer(external_id=f"analysis-{next(_numbers)}") for _ in range(count)]
    )


def consented() -> Customer:
    """A customer with an address who agreed to email marketing."""
    customer = Customer.objects.create(email=f"analysis-{next(_numbers)}@example.com")
    consent_grant(
        customer=customer, topic=email_marketing(), proof=ConsentProof(ConsentSource.FORM)
    )
    return customer


def deliveries(message_key, variant_key, count, *, sent=True, **tracked):
    """``count`` deliveries of one variant; ``tracked={"opened": 3}`` marks the first three."""
    message = Message.objects.get(key=message_key)
    variant = message.variants.get(key=variant_key)
    rows = []
    for n, customer in enumerate(customers(count)):
        row = Delivery(
            customer=customer,
            message=message,
            variant=variant,
            status=Delivery.Status.SENT if sent else Delivery.Status.QUEUED,
            queued_at=T0,
            sent_at=T0 if sent else None,
        )
        for name, how_many in tracked.items():
            column, after = TRACKED[name]
            if n < how_many:
                setattr(row, column, T0 + after)
        rows.append(row)
    return Delivery.objects.bulk_create(rows)


def convert(delivery, value=None, currency=""):
    event = Event.objects.create(
        customer=delivery.customer,
        name="purchase",
        occurred_at=T0 + timedelta(days=1),
        value=value,
        currency=currency,
        idempotency_key=uuid.uuid4().hex,
    )
    return Conversion.objects.create(
        event=event,
        delivery=delivery,
        variant_id=delivery.variant_id,
        journey_key=delivery.journey_key,
        journey_version=delivery.journey_version,
        step_key=delivery.step_key,
        enrollment_id=delivery.enrollment_id,
        branches=delivery.branches,
        value=value,
        currency=currency,
        occurred_at=event.occurred_at,
    )


def enroll(
    journey: Journey, branch: str | None, *, converted=False, emails=(), recorded=True, **tracked
):
    """An enrollment that took ``branch`` at the welcome split, with sent emails
    at ``emails`` steps (tracked as given), carrying the branch as the engine
    records it, or with ``recorded=False`` nothing, as rows queued before it did."""
    (customer,) = customers(1)
    enrollment = Enrollment.objects.create(
        journey=journey,
        version=journey.live_version,
        customer=customer,
        step="done",
        step_since=T0,
        entered_at=T0,
        trigger_ref=f"test:{customer.pk}",
        status=Enrollment.Status.COMPLETED,
        exit_reason="completed",
        branches={"welcome-nudge": branch} if branch else {},
        converted_at=T0 + timedelta(days=3) if converted else None,
    )
    message = Message.objects.get(key="welcome-2")
    made = []
    for visit, step in enumerate(emails):
        row = Delivery(
            customer=customer,
            message=message,
            variant=message.variants.get(key="A"),
            status=Delivery.Status.SENT,
            journey_key=journey.key,
            journey_version=journey.live_version.number,
            enrollment_id=enrollment.pk,
            step_key=step,
            visit=visit,
            branches=enrollment.branches if recorded else None,
            sent_at=T0,
        )
        for name in tracked:
            column, after = TRACKED[name]
            setattr(row, column, T0 + after)
        row.save()
        made.append(row)
    return made
