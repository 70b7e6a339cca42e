"""Helpers for lifecycle tests: events and consent through the real services,
with the feedback loop run as it runs after a commit."""

from datetime import UTC, datetime
from decimal import Decimal

from config import clock
from customers.models import ConsentSource, Customer
from customers.services.consent import ConsentProof, consent_grant, consent_withdraw
from customers.services.events import EventInput, events_record
from customers.services.lifecycle import customers_sweep
from tests.factories import email_marketing

T0 = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


class Life:
    """What happens to one customer, each call at its own moment, with the
    after-commit refresh executed as it would be after a real commit."""

    def __init__(self, capture) -> None:
        self.capture = capture

    def event(self, customer: Customer, name: str, at: datetime, value=None, **properties):
        with clock.simulated(at), self.capture(execute=True):
            events_record(
                events=[
                    EventInput(
                        name=name,
                        occurred_at=at,
                        email=customer.email,
                        value=None if value is None else Decimal(value),
                        currency="EUR" if value is not None else "",
                        properties=properties,
                    )
                ]
            )
        customer.refresh_from_db()
        return customer

    def buy(self, customer: Customer, at: datetime, value="20.00"):
        return self.event(customer, "purchase", at, value=value)

    def grant(self, customer: Customer, at: datetime):
        with clock.simulated(at), self.capture(execute=True):
            consent_grant(
                customer=customer, topic=email_marketing(), proof=ConsentProof(ConsentSource.FORM)
            )
        customer.refresh_from_db()
        return customer

    def withdraw(self, customer: Customer, at: datetime):
        with clock.simulated(at), self.capture(execute=True):
            consent_withdraw(
                customer=customer,
                topic=email_marketing(),
                proof=ConsentProof(ConsentSource.UNSUBSCRIBE),
            )
        customer.refresh_from_db()
        return customer

    def sweep(self, at: datetime):
        with clock.simulated(at), self.capture(execute=True):
            return customers_sweep(at=at)
