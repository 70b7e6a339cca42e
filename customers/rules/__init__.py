"""Ladder's one rule language: JSON conditions on customers.

A rule evaluates in Python for one customer (``rule_matches``) and compiles to
a Django ``Q`` for a whole population (``rule_q``); a property test holds the
two to the same answer. Journeys (entry, conditions, segments) and the stage
ladder use it. The language is described in docs/rules.md.
"""

from customers.rules.compile import rule_q
from customers.rules.evaluate import rule_matches
from customers.rules.facts import CustomerFacts, EventFact, facts_load
from customers.rules.nodes import Rule, rule_topics
from customers.rules.parse import RuleError, parse_rule
from customers.rules.schema import RULE_JSON_SCHEMA

__all__ = [
    "RULE_JSON_SCHEMA",
    "CustomerFacts",
    "EventFact",
    "Rule",
    "RuleError",
    "facts_load",
    "parse_rule",
    "rule_matches",
    "rule_q",
    "rule_topics",
]
