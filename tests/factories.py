"""factory_boy factories for the models tests need most."""

import factory
from django.utils import timezone

from customers.models import ApiKey, Customer, Event, Topic


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    email = factory.Sequence(lambda n: f"customer{n}@example.com")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")


class EventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Event

    customer = factory.SubFactory(CustomerFactory)
    name = "page_view"
    occurred_at = factory.LazyFunction(timezone.now)
    idempotency_key = factory.Sequence(lambda n: f"event-{n}")


def email_marketing() -> Topic:
    """The topic a migration creates; transactional tests flush it, so recreate it then."""
    topic, _ = Topic.objects.get_or_create(
        key="email_marketing", defaults={"name": "Email marketing"}
    )
    return topic


def consented_customer(**fields) -> Customer:
    """A customer who agreed to email marketing (through the consent service)."""
    from customers.models import ConsentSource
    from customers.services.consent import ConsentProof, consent_grant

    customer = CustomerFactory(**fields)
    consent_grant(
        customer=customer,
        topic=email_marketing(),
        proof=ConsentProof(source=ConsentSource.ADMIN, actor="tests"),
    )
    return customer


def queued(customers, message_key: str = "m", *, step: str = "send") -> list:
    """Outbox rows for ``customers``, as a journey's send step writes them."""
    from campaigns.models import Delivery
    from campaigns.services import DeliveryRequest, deliveries_queue

    requests = [
        DeliveryRequest(
            customer_id=c.pk, message_key=message_key, enrollment_id=c.pk, step_key=step
        )
        for c in customers
    ]
    deliveries_queue(requests=requests, at=timezone.now())
    return list(Delivery.objects.filter(customer__in=customers, step_key=step).order_by("id"))


__all__ = [
    "ApiKey",
    "CustomerFactory",
    "EventFactory",
    "consented_customer",
    "email_marketing",
    "queued",
]
