"""``rule_q(..., scope=...)``: telling the compiler which customers will be asked
about changes no answer for them (the sweep relies on it, chunk by chunk)."""

import pytest
from django.db.models import Q

from customers.models import Customer
from customers.rules import parse_rule, rule_q
from tests.customers.rules.cases import CASES, NOW, Case
from tests.customers.rules.test_compile import _store

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_it_gives_the_same_answer_for_customers_in_scope(case: Case):
    customer = _store(case.person)
    rule = parse_rule(case.rule)
    scope = Q(customer_id__gte=customer.pk, customer_id__lt=customer.pk + 1)
    matches = Customer.objects.filter(rule_q(rule, now=NOW, scope=scope), pk=customer.pk)
    assert matches.exists() is case.expected
