"""Helpers for journey tests: consented customers, live journeys, the clock."""

from datetime import UTC, datetime

from campaigns.models import Delivery
from config import clock
from customers.models import ConsentSource, Customer
from customers.services.consent import ConsentProof, consent_grant
from journeys.engine import run_until_idle
from journeys.models import Journey
from journeys.services import journey_activate, journey_save
from tests.factories import CustomerFactory, email_marketing

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def consented(**fields) -> Customer:
    customer = CustomerFactory(**fields)
    consent_grant(
        customer=customer, topic=email_marketing(), proof=ConsentProof(ConsentSource.FORM)
    )
    return customer


def live(document, at=T0) -> Journey:
    version = journey_save(document=document, at=at)
    journey_activate(journey=version.journey, at=at)
    return version.journey


def run(at):
    with clock.simulated(at):
        return run_until_idle(now=at)


def sent_to(customer) -> list[str]:
    return list(
        Delivery.objects.filter(customer=customer)
        .order_by("id")
        .values_list("message__key", flat=True)
    )
