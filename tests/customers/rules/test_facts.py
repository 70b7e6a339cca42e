"""facts_load: what Python evaluation needs, for many customers, in a fixed
number of queries."""

from datetime import datetime
from decimal import Decimal

import pytest

from customers.models import Consent, ConsentStatus, Customer, Event, Topic
from customers.rules import CustomerFacts, EventFact, facts_load, parse_rule
from tests.customers.rules.cases import DAY, NOW
from tests.factories import email_marketing

pytestmark = pytest.mark.django_db

EVERYTHING = parse_rule(
    {
        "all": [
            {"consent": {"topic": "email_marketing", "status": "granted"}},
            {"event": {"name": "purchase", "within_days": 30}},
            {"event": {"name": "purchase", "within_days": 7, "count": {"gte": 2}}},
            {"event": {"name": "open", "within_days": 7}},
        ]
    }
)


def _customers(count: int) -> list[Customer]:
    customers = Customer.objects.bulk_create(
        Customer(email=f"c{i}@example.com", attributes={"i": i}) for i in range(count)
    )
    sms = Topic.objects.create(key="sms", name="SMS")
    for c in customers:
        Consent.objects.create(customer=c, topic=email_marketing(), status=ConsentStatus.GRANTED)
        Consent.objects.create(customer=c, topic=sms, status=ConsentStatus.PENDING)
    Event.objects.bulk_create(
        Event(
            customer=c,
            name=name,
            value=Decimal("9.99"),
            properties={"days": days},
            occurred_at=NOW - days * DAY,
            idempotency_key=f"{c.pk}-{name}-{days}",
        )
        for c in customers
        for name, days in (("purchase", 30), ("purchase", 31), ("open", 7), ("open", 8), ("x", 1))
    )
    return customers


@pytest.mark.parametrize("count", [1, 25])
def test_it_loads_any_number_of_customers_in_three_queries(count, django_assert_num_queries):
    ids = [c.pk for c in _customers(count)]
    with django_assert_num_queries(3):
        facts = facts_load(ids, [EVERYTHING], now=NOW)
    assert len(facts) == count


def test_it_skips_the_queries_the_rules_do_not_need(django_assert_num_queries):
    ids = [c.pk for c in _customers(3)]
    with django_assert_num_queries(1):
        facts = facts_load(
            ids, [parse_rule({"field": "attributes.i", "op": "gt", "value": 0})], now=NOW
        )
    assert [f.events for f in facts.values()] == [(), (), ()]
    assert [f.consents for f in facts.values()] == [{}, {}, {}]


def test_it_loads_fields_attributes_and_the_named_consents():
    customer = _customers(1)[0]
    facts = facts_load([customer.pk], [EVERYTHING], now=NOW)[customer.pk]
    assert facts.values["email"] == "c0@example.com"
    assert facts.values["stage"] == "suspect"
    assert facts.values["revenue"] == Decimal("0")
    assert facts.values["stage_changed_at"] == customer.stage_changed_at
    assert facts.attributes == {"i": 0}
    # sms is not named by the rule, so it is not loaded.
    assert facts.consents == {"email_marketing": "granted"}


def test_it_loads_each_named_event_from_the_start_of_its_widest_window():
    customer = _customers(1)[0]
    facts = facts_load([customer.pk], [EVERYTHING], now=NOW)[customer.pk]
    assert [(e.name, e.properties["days"]) for e in facts.events] == [
        ("purchase", 30),
        ("open", 7),
    ]
    assert facts.events[0] == EventFact("purchase", {"days": 30}, Decimal("9.99"), NOW - 30 * DAY)


def test_it_loads_all_time_when_a_rule_looks_at_all_time():
    customer = _customers(1)[0]
    rules = [EVERYTHING, parse_rule({"event": {"name": "purchase", "count": {"eq": 0}}})]
    facts = facts_load([customer.pk], rules, now=NOW)[customer.pk]
    assert [(e.name, e.properties["days"]) for e in facts.events] == [
        ("purchase", 31),
        ("purchase", 30),
        ("open", 7),
    ]


def test_it_leaves_out_ids_that_do_not_exist():
    assert facts_load([123456], [EVERYTHING], now=NOW) == {}


def test_it_builds_facts_from_a_customer_in_memory():
    customer = Customer(email="new@example.com", orders_count=4, attributes={"plan": "pro"})
    facts = CustomerFacts.from_customer(customer, consents={"email_marketing": "pending"})
    assert facts.values["orders_count"] == 4
    assert facts.attributes == {"plan": "pro"}
    assert facts.consents == {"email_marketing": "pending"}
    assert facts.events == ()


def test_it_refuses_a_naive_now():
    with pytest.raises(ValueError, match="aware"):
        facts_load([], [], now=datetime(2025, 1, 1))  # noqa: DTZ001
