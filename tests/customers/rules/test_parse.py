"""Parsing: what a rule document may say, and where it went wrong when it may not."""

from decimal import Decimal

import pytest

from customers.rules import Rule, RuleError, parse_rule, rule_topics

VALID = {"field": "orders_count", "op": "gte", "value": 1}

#: (document, path of the problem, words the message must contain)
ERRORS = [
    (5, "", "a rule must be an object"),
    ({}, "", "exactly one of all, any, not, field"),
    ({"all": [], "any": []}, "", "found all, any"),
    ({"foo": 1}, "", "unknown rule 'foo'"),
    ({"all": {}}, "all", "must be a list"),
    ({"all": [VALID, {"any": [{"nope": 1}]}]}, "all[1].any[0]", "unknown rule 'nope'"),
    ({"not": [VALID]}, "not", "a rule must be an object"),
    (
        {"all": [VALID, VALID, {"event": {"name": "purchase", "within_days": -3}}]},
        "all[2].event.within_days",
        "from 1 to 36500",
    ),
    # Field comparisons
    ({"field": "age", "op": "eq", "value": 1}, "field", "unknown field 'age'"),
    ({"field": ["email"], "op": "eq", "value": 1}, "field", "unknown field"),
    ({"field": "email", "op": "like", "value": "x"}, "op", "unknown operator 'like'"),
    (
        {"field": "orders_count", "op": "contains", "value": 1},
        "op",
        "orders_count does not take 'contains'",
    ),
    ({"field": "created_at", "op": "in", "value": []}, "op", "created_at does not take 'in'"),
    ({"field": "orders_count", "op": "eq", "value": "3"}, "value", "whole number"),
    ({"field": "orders_count", "op": "eq", "value": 2.5}, "value", "whole number"),
    ({"field": "orders_count", "op": "eq", "value": True}, "value", "whole number"),
    ({"field": "email", "op": "eq", "value": 1}, "value", "must be a string"),
    ({"field": "email", "op": "in", "value": "a"}, "value", "must be a list"),
    ({"field": "email", "op": "in", "value": []}, "value", "at least one value"),
    ({"field": "email", "op": "in", "value": ["a", 1]}, "value[1]", "must be a string"),
    ({"field": "email", "op": "exists", "value": "yes"}, "value", "exists takes true or false"),
    ({"field": "email", "op": "eq", "value": "a\x00"}, "value", "NUL"),
    ({"field": "email", "op": "eq", "value": "x" * 1001}, "value", "at most 1000 characters"),
    ({"field": "stage", "op": "eq", "value": "vip"}, "value", "unknown stage 'vip'"),
    ({"field": "revenue", "op": "gt", "value": "10"}, "value", "must be a number"),
    ({"field": "revenue", "op": "gt", "value": 1.005}, "value", "two decimal places"),
    ({"field": "clv", "op": "gt", "value": 1e13}, "value", "within ±999999999999.99"),
    ({"field": "engagement_score", "op": "gt", "value": float("inf")}, "value", "finite"),
    (
        {"field": "created_at", "op": "gt", "value": "2025-01-01T00:00:00"},
        "value",
        "needs a time zone offset",
    ),
    ({"field": "created_at", "op": "gt", "value": "yesterday"}, "value", "ISO 8601"),
    ({"field": "created_at", "op": "gt", "value": 3}, "value", "ISO 8601"),
    (
        {"field": "created_at", "op": "gt", "value": {"days_ago": -1}},
        "value.days_ago",
        "from 0 to 36500",
    ),
    ({"field": "created_at", "op": "gt", "value": {"weeks_ago": 1}}, "value.weeks_ago", "unknown"),
    ({"field": "email", "op": "eq"}, "", "missing 'value'"),
    ({"field": "email", "op": "eq", "value": "a", "why": 1}, "why", "unknown key"),
    # Attribute paths
    ({"field": "attributes.", "op": "exists", "value": True}, "field", "empty key"),
    ({"field": "attributes.a..b", "op": "exists", "value": True}, "field", "empty key"),
    ({"field": 'attributes.a"b', "op": "exists", "value": True}, "field", "may not contain"),
    ({"field": "attributes.a", "op": "eq", "value": None}, "value", "use op 'exists'"),
    ({"field": "attributes.a", "op": "eq", "value": [1]}, "value", "a string, a number or true"),
    (
        {"field": "attributes.a", "op": "lt", "value": True},
        "value",
        "lt compares numbers or strings",
    ),
    ({"field": "attributes.a", "op": "eq", "value": 2**60}, "value", "within ±9007199254740992"),
    ({"field": "attributes.a", "op": "eq", "value": float("nan")}, "value", "finite"),
    ({"field": "attributes.a", "op": "in", "value": [1, None]}, "value[1]", "use op 'exists'"),
    ({"field": "attributes.a", "op": "near", "value": 1}, "op", "unknown operator 'near'"),
    # Stage
    ({"stage": {}}, "stage", "needs at least one of is, in, entered_within_days"),
    ({"stage": "customer"}, "stage", "must be an object"),
    ({"stage": {"is": "vip"}}, "stage.is", "unknown stage 'vip'"),
    ({"stage": {"is": "customer", "in": ["loyal"]}}, "stage", "'is' or 'in', not both"),
    ({"stage": {"in": ["customer", "gold"]}}, "stage.in[1]", "unknown stage 'gold'"),
    ({"stage": {"in": []}}, "stage.in", "at least one value"),
    ({"stage": {"entered_within_days": 0}}, "stage.entered_within_days", "from 1 to 36500"),
    ({"stage": {"was": "customer"}}, "stage.was", "unknown key"),
    # Consent
    ({"consent": {"topic": "email marketing", "status": "granted"}}, "consent.topic", "topic key"),
    ({"consent": {"topic": "x", "status": "yes"}}, "consent.status", "unknown consent status"),
    ({"consent": {"topic": "x"}}, "consent", "missing 'status'"),
    # Events
    ({"event": {}}, "event", "missing 'name'"),
    ({"event": {"name": ""}}, "event.name", "1 to 100 characters"),
    ({"event": {"name": "p", "within_days": "30"}}, "event.within_days", "whole number"),
    ({"event": {"name": "p", "within_days": 36501}}, "event.within_days", "from 1 to 36500"),
    (
        {"event": {"name": "p", "count": {"gte": 1}, "sum": {"gte": 1}}},
        "event",
        "'count' or 'sum', not both",
    ),
    ({"event": {"name": "p", "count": {}}}, "event.count", "needs at least one of eq"),
    ({"event": {"name": "p", "count": {"about": 1}}}, "event.count.about", "unknown key"),
    ({"event": {"name": "p", "count": {"gte": -1}}}, "event.count.gte", "from 0 to"),
    ({"event": {"name": "p", "sum": {"gte": 0.001}}}, "event.sum.gte", "two decimal places"),
    ({"event": {"name": "p", "where": {"property": "sku"}}}, "event.where", "must be a list"),
    (
        {"event": {"name": "p", "where": [{"property": "sku", "op": "eq"}]}},
        "event.where[0]",
        "missing 'value'",
    ),
    (
        {"event": {"name": "p", "where": [{"property": "sku", "op": "between", "value": 1}]}},
        "event.where[0].op",
        "unknown operator 'between'",
    ),
    (
        {"event": {"name": "p", "where": [{"property": 7, "op": "eq", "value": 1}]}},
        "event.where[0].property",
        "dotted path",
    ),
    # Days since last purchase
    ({"days_since_last_purchase": 30}, "days_since_last_purchase", "must be an object"),
    ({"days_since_last_purchase": {"gt": -1}}, "days_since_last_purchase.gt", "from 0 to 36500"),
    ({"days_since_last_purchase": {"gt": 1.5}}, "days_since_last_purchase.gt", "whole number"),
    ({"days_since_last_purchase": {"in": [1]}}, "days_since_last_purchase.in", "unknown key"),
]


@pytest.mark.parametrize(("document", "path", "words"), ERRORS, ids=lambda v: repr(v)[:60])
def test_it_names_the_path_and_the_problem(document, path, words):
    with pytest.raises(RuleError) as raised:
        parse_rule(document)
    error = raised.value
    assert error.path == path
    assert words in error.message
    assert str(error) == (f"{path}: {error.message}" if path else error.message)


def test_it_is_a_value_error_that_reads_path_colon_message():
    error = RuleError("all[2].event.within_days", "must be a whole number of days")
    assert isinstance(error, ValueError)
    assert str(error) == "all[2].event.within_days: must be a whole number of days"
    assert str(RuleError("", "a rule must be an object")) == "a rule must be an object"


def test_it_refuses_nesting_deeper_than_32_levels():
    document = VALID
    for _ in range(40):
        document = {"not": document}
    with pytest.raises(RuleError, match="at most 32 levels") as raised:
        parse_rule(document)
    assert raised.value.path.startswith("not.not.not")


def test_it_parses_to_immutable_hashable_values():
    document = {"all": [VALID, {"field": "attributes.a", "op": "in", "value": [1, "x"]}]}
    rule = parse_rule(document)
    assert isinstance(rule, Rule)
    assert rule == parse_rule(document)
    assert hash(rule) == hash(parse_rule(document))
    assert len({rule, parse_rule(document)}) == 1
    with pytest.raises(AttributeError):
        rule.rules = ()


def test_it_keeps_true_and_1_apart_but_1_and_1_0_together():
    def attribute_is(value):
        return parse_rule({"field": "attributes.a", "op": "eq", "value": value})

    assert attribute_is(1) != attribute_is(True)
    assert attribute_is(1) == attribute_is(1.0)
    assert attribute_is("1") != attribute_is(1)


def test_it_reads_money_as_exact_decimals():
    rule = parse_rule({"event": {"name": "purchase", "sum": {"gte": 19.99}}})
    assert rule.bounds == (("gte", Decimal("19.99")),)


def test_it_counts_at_least_one_event_when_neither_count_nor_sum_is_given():
    rule = parse_rule({"event": {"name": "purchase"}})
    assert (rule.measure, rule.bounds) == ("count", (("gte", 1),))


def test_it_accepts_whole_numbers_written_with_a_decimal_point():
    assert parse_rule({"field": "orders_count", "op": "eq", "value": 2.0}) == parse_rule(
        {"field": "orders_count", "op": "eq", "value": 2}
    )


def test_it_lists_the_event_names_a_rule_looks_at():
    rule = parse_rule(
        {
            "any": [
                {"event": {"name": "purchase", "within_days": 30}},
                {"not": {"event": {"name": "email_opened", "within_days": 7}}},
                VALID,
            ]
        }
    )
    assert rule.event_names == frozenset({"purchase", "email_opened"})
    assert rule.max_event_window_days == 30


def test_it_reports_all_time_when_one_event_clause_has_no_window():
    rule = parse_rule(
        {"all": [{"event": {"name": "a", "within_days": 30}}, {"event": {"name": "b"}}]}
    )
    assert rule.max_event_window_days is None


def test_it_reports_no_window_and_no_names_for_rules_without_events():
    rule = parse_rule(VALID)
    assert rule.event_names == frozenset()
    assert rule.max_event_window_days == 0


def test_it_lists_the_consent_topics_a_rule_names():
    rule = parse_rule(
        {
            "all": [
                {"consent": {"topic": "email_marketing", "status": "granted"}},
                {"not": {"consent": {"topic": "sms", "status": "none"}}},
            ]
        }
    )
    assert rule_topics(rule) == frozenset({"email_marketing", "sms"})
    assert rule_topics(parse_rule(VALID)) == frozenset()


def test_it_reads_bounds_in_any_order_as_one_rule():
    assert parse_rule({"days_since_last_purchase": {"gte": 30, "lt": 60}}) == parse_rule(
        {"days_since_last_purchase": {"lt": 60, "gte": 30}}
    )
