"""SQL compilation: the worked examples give the same answer from the database,
through ``rule_q`` and through ``facts_load`` + ``rule_matches``."""

from datetime import datetime

import pytest
from django.db import connection

from customers.models import Consent, Customer, Event, Topic
from customers.rules import facts_load, parse_rule, rule_matches, rule_q
from tests.customers.rules.cases import CASES, DEFAULTS, NOW, Case, Person

pytestmark = pytest.mark.django_db


def _store(person: Person) -> Customer:
    customer = Customer.objects.create(
        **{**DEFAULTS, **person.fields, "attributes": person.attributes}
    )
    for key, status in person.consents.items():
        topic, _ = Topic.objects.get_or_create(key=key, defaults={"name": key})
        Consent.objects.create(customer=customer, topic=topic, status=status)
    Event.objects.bulk_create(
        Event(
            customer=customer,
            name=e.name,
            properties=e.properties,
            value=e.value,
            occurred_at=e.occurred_at,
            idempotency_key=f"case-{i}",
        )
        for i, e in enumerate(person.events)
    )
    return customer


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_it_selects_each_construct_in_sql(case: Case):
    customer = _store(case.person)
    rule = parse_rule(case.rule)
    selected = Customer.objects.filter(rule_q(rule, now=NOW)).filter(pk=customer.pk).exists()
    assert selected is case.expected
    excluded = Customer.objects.exclude(rule_q(rule, now=NOW)).filter(pk=customer.pk).exists()
    assert excluded is not case.expected
    facts = facts_load([customer.pk], [rule], now=NOW)[customer.pk]
    assert rule_matches(rule, facts, now=NOW) is case.expected


def test_it_selects_a_population_in_one_query(django_assert_num_queries):
    for i in range(5):
        _store(Person(fields={"email": f"c{i}@example.com", "orders_count": i}))
    rule = parse_rule(
        {
            "all": [
                {"field": "orders_count", "op": "gte", "value": 2},
                {"consent": {"topic": "email_marketing", "status": "none"}},
                {"event": {"name": "purchase", "count": {"lt": 3}, "within_days": 30}},
                {"event": {"name": "purchase", "sum": {"lt": 100}}},
                {"field": "attributes.plan", "op": "exists", "value": False},
            ]
        }
    )
    with django_assert_num_queries(1):
        assert len(Customer.objects.filter(rule_q(rule, now=NOW))) == 3


@pytest.mark.skipif(connection.vendor != "postgresql", reason="collations are PostgreSQL's")
def test_it_orders_text_by_code_point_whatever_the_database_collation():
    for field, op in (("first_name", "lt"), ("attributes.plan", "gte")):
        rule = parse_rule({"field": field, "op": op, "value": "a"})
        assert 'COLLATE "C"' in str(Customer.objects.filter(rule_q(rule, now=NOW)).query)


def test_it_refuses_a_naive_now():
    with pytest.raises(ValueError, match="aware"):
        rule_q(parse_rule({"all": []}), now=datetime(2025, 1, 1))  # noqa: DTZ001
