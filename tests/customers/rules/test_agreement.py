"""The property the rule language promises: for any customers and any rule,
``rule_q`` selects in SQL exactly the customers ``rule_matches`` matches in
Python — on PostgreSQL and on SQLite.

Each example stores its population inside a savepoint and rolls it back, so
examples never see each other's rows although pytest-django runs them all in
one transaction.
"""

import pytest
from django.db import connection, transaction
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from customers.models import Consent, Customer, Event, Topic
from customers.rules import CustomerFacts, EventFact, facts_load, parse_rule, rule_matches, rule_q
from tests.customers.rules.strategies import NOW, TOPICS, CustomerSpec, customers, rules

pytestmark = pytest.mark.django_db

#: Numbers beyond ±2^53 agree only where numbers are exact: PostgreSQL's
#: numeric, not SQLite's doubles (docs/rules.md, "Numbers").
HUGE = connection.vendor == "postgresql"


class _RolledBack(Exception):
    """Carries the answers out of the savepoint it unwinds."""


def _store(population: list[CustomerSpec]) -> list[Customer]:
    stored = Customer.objects.bulk_create(
        Customer(
            **{
                **spec.fields,
                # Unique columns: the drawn value plus the customer's number.
                "email": spec.fields["email"] and f"{spec.fields['email']}-{i}@example.com",
                "external_id": spec.fields["external_id"] and f"{spec.fields['external_id']}-{i}",
            }
        )
        for i, spec in enumerate(population)
    )
    for key in TOPICS[:2]:
        Topic.objects.get_or_create(key=key, defaults={"name": key})
    topics = {t.key: t for t in Topic.objects.filter(key__in=TOPICS)}
    Consent.objects.bulk_create(
        Consent(customer=customer, topic=topics[key], status=status)
        for customer, spec in zip(stored, population, strict=True)
        for key, status in spec.consents.items()
    )
    Event.objects.bulk_create(
        Event(
            customer=customer,
            name=e.name,
            properties=e.properties,
            value=e.value,
            currency="EUR" if e.value is not None else "",
            occurred_at=e.occurred_at,
            idempotency_key=f"{customer.pk}-{j}",
        )
        for customer, spec in zip(stored, population, strict=True)
        for j, e in enumerate(spec.events)
    )
    return stored


def _by_hand(customer: Customer, spec: CustomerSpec) -> CustomerFacts:
    """Facts as a simulation would build them: from memory, every event."""
    events = [EventFact(e.name, e.properties, e.value, e.occurred_at) for e in spec.events]
    return CustomerFacts.from_customer(customer, consents=spec.consents, events=events)


def _answers(population: list[CustomerSpec], rules: list) -> list[tuple[set, set, set]]:
    """For each rule: whom SQL selects, whom Python matches on loaded facts, and
    whom Python matches on facts built by hand."""
    try:
        with transaction.atomic():
            stored = _store(population)
            ids = [c.pk for c in stored]
            facts = facts_load(ids, rules, now=NOW)
            answers = []
            for rule in rules:
                in_sql = Customer.objects.filter(rule_q(rule, now=NOW)).values_list("pk", flat=True)
                in_python = {pk for pk in ids if rule_matches(rule, facts[pk], now=NOW)}
                by_hand = {
                    c.pk
                    for c, spec in zip(stored, population, strict=True)
                    if rule_matches(rule, _by_hand(c, spec), now=NOW)
                }
                answers.append((set(in_sql), in_python, by_hand))
            raise _RolledBack(answers)
    except _RolledBack as rolled_back:
        return rolled_back.args[0]


# Several rules share one stored population: storing it is the expensive part.
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    population=st.lists(customers(huge=HUGE), min_size=1, max_size=10),
    documents=st.lists(rules(huge=HUGE), min_size=2, max_size=10),
)
def test_it_selects_in_sql_exactly_the_customers_python_matches(population, documents):
    # Every part of every rule is checked too: in a big "all", a wrong leaf is
    # usually hidden by another leaf that is false anyway.
    documents = [part for document in documents for part in _parts(document)]
    parsed = [parse_rule(document) for document in documents]
    for document, (in_sql, in_python, by_hand) in zip(
        documents, _answers(population, parsed), strict=True
    ):
        event(_share(in_python, population))
        assert in_sql == in_python, document
        assert by_hand == in_python, document


def _share(matched: set, population: list) -> str:
    if not matched:
        return "matched no one"
    return "matched everyone" if len(matched) == len(population) else "matched some"


def _parts(document: dict):
    """The document and every rule nested inside it."""
    yield document
    for key in ("all", "any"):
        for child in document.get(key, ()):
            yield from _parts(child)
    if "not" in document:
        yield from _parts(document["not"])
