"""Python evaluation: each construct and its edges, with hand-built facts (no database)."""

from datetime import datetime

import pytest

from customers.rules import CustomerFacts, parse_rule, rule_matches
from tests.customers.rules.cases import CASES, NOW, Case


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_it_evaluates_each_construct(case: Case):
    assert rule_matches(parse_rule(case.rule), case.person.facts(), now=NOW) is case.expected


def test_it_reads_fields_left_out_of_hand_built_facts_as_null():
    facts = CustomerFacts(values={"orders_count": 3})
    assert rule_matches(
        parse_rule({"field": "email", "op": "exists", "value": False}), facts, now=NOW
    )
    assert not rule_matches(
        parse_rule({"field": "revenue", "op": "gte", "value": 0}), facts, now=NOW
    )
    assert rule_matches(
        parse_rule({"field": "orders_count", "op": "eq", "value": 3}), facts, now=NOW
    )


def test_it_reads_consents_left_out_as_never_asked():
    rule = parse_rule({"consent": {"topic": "email_marketing", "status": "none"}})
    assert rule_matches(rule, CustomerFacts(), now=NOW)


def test_it_takes_plain_numbers_for_money_in_hand_built_facts():
    rule = parse_rule({"field": "revenue", "op": "eq", "value": 19.99})
    assert rule_matches(rule, CustomerFacts(values={"revenue": 19.99}), now=NOW)


def test_it_refuses_a_naive_now():
    with pytest.raises(ValueError, match="aware"):
        rule_matches(parse_rule({"all": []}), CustomerFacts(), now=datetime(2025, 1, 1))  # noqa: DTZ001
