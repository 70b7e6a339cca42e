from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, connection

from customers.errors import InvalidInput
from customers.models import Event
from customers.services.events import EventInput, events_record
from tests.factories import CustomerFactory

WHEN = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_it_stores_an_event_with_its_value(db):
    customer = CustomerFactory(email="ann@example.com")
    result = events_record(
        events=[
            EventInput(
                name="purchase",
                occurred_at=WHEN,
                email="ann@example.com",
                properties={"sku": "A-1"},
                value=Decimal("19.90"),
                currency="EUR",
                idempotency_key="order-1",
            )
        ]
    )
    assert (result.accepted, result.duplicates) == (1, 0)
    event = Event.objects.get()
    assert event.customer == customer
    assert (event.value, event.currency, event.properties) == (
        Decimal("19.90"),
        "EUR",
        {"sku": "A-1"},
    )


def test_the_same_key_twice_stores_one_event(db):
    CustomerFactory(email="ann@example.com")
    event = EventInput(
        name="purchase", occurred_at=WHEN, email="ann@example.com", idempotency_key="order-1"
    )
    assert events_record(events=[event, event]).duplicates == 1
    assert events_record(events=[event]).duplicates == 1
    assert Event.objects.count() == 1


def test_events_without_a_key_are_each_stored(db):
    CustomerFactory(email="ann@example.com")
    event = EventInput(name="page_view", occurred_at=WHEN, email="ann@example.com")
    assert events_record(events=[event, event]).accepted == 2


def test_it_finds_customers_by_external_id(db):
    customer = CustomerFactory(external_id="u-7")
    events_record(events=[EventInput(name="login", occurred_at=WHEN, external_id="u-7")])
    assert Event.objects.get().customer == customer


def test_an_event_named_by_customer_id_needs_no_lookup(db, django_assert_num_queries):
    customer = CustomerFactory(email="ann@example.com")
    events = [
        EventInput(name="opened", occurred_at=WHEN, customer_id=customer.pk, idempotency_key="k")
    ]
    # As in the batch below, less the customers by email.
    insert = 2 if connection.vendor == "postgresql" else 1
    with django_assert_num_queries(2 + insert + 2):
        events_record(events=events)
    assert Event.objects.get().customer == customer


@pytest.mark.django_db(transaction=True)  # the foreign key is checked at commit
def test_an_unknown_customer_id_stores_nothing():
    customer = CustomerFactory()
    events = [
        EventInput(name="opened", occurred_at=WHEN, customer_id=customer.pk),
        EventInput(name="opened", occurred_at=WHEN, customer_id=customer.pk + 1000),
    ]
    with pytest.raises(IntegrityError):
        events_record(events=events)
    assert not Event.objects.exists()


def test_unknown_customers_fail_the_whole_batch(db):
    CustomerFactory(email="ann@example.com", external_id="u-1")
    events = [
        EventInput(name="a", occurred_at=WHEN, email="ann@example.com"),
        EventInput(name="b", occurred_at=WHEN, email="nobody@example.com"),
        EventInput(name="c", occurred_at=WHEN, external_id="u-404"),
        EventInput(name="d", occurred_at=WHEN),
        EventInput(name="e", occurred_at=WHEN, email="ann@example.com", external_id="u-1"),
    ]
    with pytest.raises(InvalidInput) as exc:
        events_record(events=events)
    assert [(e.index, e.field) for e in exc.value.errors] == [
        (1, "email"),
        (2, "external_id"),
        (3, "email"),
    ]
    assert not Event.objects.exists()


def test_a_batch_takes_a_fixed_number_of_queries(db, django_assert_num_queries):
    customers = CustomerFactory.create_batch(20)
    events = [
        EventInput(
            name="view", occurred_at=WHEN, email=customers[n % 20].email, idempotency_key=f"k{n}"
        )
        for n in range(1000)
    ]
    # Customers by email, stored keys, the event names journeys listen for, and
    # the insert, inside a savepoint pair. The insert is one statement on SQLite;
    # on PostgreSQL it is a COPY (which bypasses Django's query log) in a savepoint.
    insert = 2 if connection.vendor == "postgresql" else 1
    with django_assert_num_queries(3 + insert + 2):
        events_record(events=events)
    assert Event.objects.count() == 1000


def test_a_key_stored_concurrently_is_still_stored_once(db):
    from customers.services.events import _insert

    customer = CustomerFactory()
    events_record(
        events=[EventInput(name="a", occurred_at=WHEN, email=customer.email, idempotency_key="k1")]
    )
    # Another request stored "k1" after this one checked: the insert must not fail.
    _insert(
        [
            (customer.pk, "a", {}, None, "", WHEN, WHEN, "k1", None),
            (customer.pk, "b", {}, None, "", WHEN, WHEN, "k2", None),
        ]
    )
    assert sorted(Event.objects.values_list("idempotency_key", flat=True)) == ["k1", "k2"]


def test_only_events_a_listener_wants_wait_to_be_routed(db, monkeypatch):
    from customers import signals

    monkeypatch.setattr(signals, "event_name_listeners", [lambda: {"purchase"}])
    customer = CustomerFactory()
    events_record(
        events=[
            EventInput(name="purchase", occurred_at=WHEN, email=customer.email),
            EventInput(name="page_view", occurred_at=WHEN, email=customer.email),
        ]
    )
    routed = dict(Event.objects.values_list("name", "routed_at"))
    assert routed["purchase"] is None and routed["page_view"] is not None
