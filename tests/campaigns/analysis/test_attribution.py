"""Conversions: a journey's goal event credited to the last email before it, once."""

from datetime import timedelta
from decimal import Decimal

import pytest

from campaigns.analysis.attribution import GoalEvent, conversions_attribute
from campaigns.models import Conversion, Delivery, Message
from customers.models import Event
from customers.services.events import EventInput, events_record
from journeys.engine import route_activity
from tests.campaigns.analysis.helpers import consented
from tests.journeys.documents import steps
from tests.journeys.helpers import T0, live

WINDOW = timedelta(days=5)


def journey(key, **fields):
    document = steps(
        "s",
        trigger={"type": "event", "event": "signup"},
        s={"type": "send_email", "message": "m", "next": "e"},
        e={"type": "exit"},
    )
    return live({**document, "key": key, "goal": {"event": "purchase"}, **fields})


def sent(customer, at, journey_key="shop", **fields):
    message = Message.objects.get(key="m")
    return Delivery.objects.create(
        customer=customer,
        message=message,
        variant=message.variants.get(key="A"),
        status=Delivery.Status.SENT,
        journey_key=journey_key,
        step_key="s",
        queued_at=at,
        sent_at=at,
        **fields,
    )


def purchase(customer, at, **fields):
    events_record(
        events=[EventInput(name="purchase", occurred_at=at, email=customer.email, **fields)],
        received_at=at,
    )
    route_activity(now=at)


def credited(customer):
    return list(
        Conversion.objects.filter(event__customer=customer).values_list("delivery_id", flat=True)
    )


@pytest.fixture
def ann(messages):
    journey("shop")
    return consented()


def test_a_purchase_at_the_end_of_the_window_is_credited(ann):
    email = sent(ann, T0)
    purchase(ann, T0 + WINDOW)
    assert credited(ann) == [email.pk]


def test_a_purchase_just_after_the_window_is_not(ann):
    sent(ann, T0)
    purchase(ann, T0 + WINDOW + timedelta(seconds=1))
    assert credited(ann) == []


def test_a_purchase_before_the_email_or_at_the_same_instant_is_not(ann):
    sent(ann, T0)
    purchase(ann, T0 - timedelta(minutes=1))
    purchase(ann, T0)
    assert credited(ann) == []


def test_a_bounced_email_gets_no_credit(ann):
    sent(ann, T0, bounced_at=T0 + timedelta(minutes=1))
    purchase(ann, T0 + timedelta(hours=1))
    assert credited(ann) == []


def test_the_journey_step_variant_and_revenue_are_credited(ann):
    email = sent(ann, T0, enrollment_id=7)
    purchase(ann, T0 + timedelta(days=1), value=Decimal("42.50"), currency="EUR")
    conversion = Conversion.objects.get()
    assert (conversion.delivery_id, conversion.variant_id) == (email.pk, email.variant_id)
    assert (conversion.journey_key, conversion.step_key, conversion.enrollment_id) == (
        "shop",
        "s",
        7,
    )
    assert (conversion.value, conversion.currency) == (Decimal("42.50"), "EUR")
    assert conversion.occurred_at == T0 + timedelta(days=1)


def test_one_purchase_is_credited_once_to_the_last_email_of_two_journeys(ann):
    journey("winback")
    first = sent(ann, T0, journey_key="shop")
    last = sent(ann, T0 + timedelta(hours=2), journey_key="winback")
    purchase(ann, T0 + timedelta(days=1))
    assert credited(ann) == [last.pk]
    assert first.conversions.count() == 0


def test_routing_the_same_event_again_credits_it_once(ann):
    sent(ann, T0)
    purchase(ann, T0 + timedelta(days=1))
    Event.objects.update(routed_at=None)
    route_activity(now=T0 + timedelta(days=2))
    assert Conversion.objects.count() == 1


def test_each_purchase_is_credited(ann):
    email = sent(ann, T0)
    purchase(ann, T0 + timedelta(days=1))
    purchase(ann, T0 + timedelta(days=2))
    assert credited(ann) == [email.pk, email.pk]


def test_the_journey_document_sets_the_window(messages):
    journey("shop", attribution_window="1d")
    bob = consented()
    sent(bob, T0)
    purchase(bob, T0 + timedelta(days=1, seconds=1))
    assert credited(bob) == []


def test_only_journeys_whose_goal_it_is_get_credit(ann):
    sent(ann, T0, journey_key="no-goal")
    purchase(ann, T0 + timedelta(hours=1))
    assert credited(ann) == []


def test_a_batch_takes_two_queries_whatever_its_size(ann, django_assert_num_queries):
    customers = [consented() for _ in range(30)]
    for customer in customers:
        sent(customer, T0)
    events_record(
        events=[
            EventInput(name="purchase", occurred_at=T0 + timedelta(hours=1), email=c.email)
            for c in customers
        ],
        received_at=T0,
    )
    goals = [
        GoalEvent(e.pk, e.customer_id, e.occurred_at, e.value, e.currency, {"shop": WINDOW})
        for e in Event.objects.filter(name="purchase")
    ]
    with django_assert_num_queries(2):
        assert conversions_attribute(events=goals, at=T0 + timedelta(hours=1)) == 30
