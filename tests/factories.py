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


__all__ = ["ApiKey", "CustomerFactory", "EventFactory", "email_marketing"]
