"""The ladder in the admin: shown in ladder order, edited, refused with a clear message."""

import json

import pytest

from customers.lifecycle.defaults import DEFAULT_LADDER
from customers.models import LadderRule, Stage

pytestmark = pytest.mark.django_db


def _change(admin_client, stage: Stage, rule: str):
    row = LadderRule.objects.get(stage=stage)
    return admin_client.post(
        f"/admin/customers/ladderrule/{row.pk}/change/",
        {"rule": rule, "description": "edited"},
    )


def test_it_ships_the_documented_default_ladder():
    stored = {row.stage: row.rule for row in LadderRule.objects.all()}
    assert stored == {stage.value: rule for stage, (rule, _) in DEFAULT_LADDER.items()}


def test_it_lists_the_stages_in_ladder_order(admin_client):
    html = admin_client.get("/admin/customers/ladderrule/").content.decode()
    positions = [html.index(f">{stage.label}<") for stage in DEFAULT_LADDER]
    assert positions == sorted(positions)


def test_it_saves_a_valid_rule(admin_client):
    rule = {"field": "orders_count", "op": "gte", "value": 3}
    response = _change(admin_client, Stage.REPEAT, json.dumps(rule))
    assert response.status_code == 302
    assert LadderRule.objects.get(stage=Stage.REPEAT).rule == rule


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            '{"field": "orders_count", "op": "contains", "value": 2}',
            "op: orders_count does not take &#x27;contains&#x27;",
        ),
        (
            '{"field": "lapsed", "op": "eq", "value": true}',
            "field: unknown field &#x27;lapsed&#x27;",
        ),
        (
            '{"all": [{"consent": {"topic": "sms", "status": "granted"}}]}',
            "there is no consent topic sms",
        ),
        ('{"field": "orders_count", "op": "gte", "value": 2', "Enter a valid JSON."),
    ],
)
def test_it_refuses_a_bad_rule_on_the_field_saying_what_and_where(admin_client, rule, message):
    response = _change(admin_client, Stage.REPEAT, rule)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert list(errors) == ["rule"]
    assert message in response.content.decode()
    assert LadderRule.objects.get(stage=Stage.REPEAT).rule == DEFAULT_LADDER[Stage.REPEAT][0]


def test_it_neither_adds_nor_deletes_stages(admin_client):
    row = LadderRule.objects.get(stage=Stage.LOYAL)
    assert admin_client.get("/admin/customers/ladderrule/add/").status_code == 403
    assert admin_client.get(f"/admin/customers/ladderrule/{row.pk}/delete/").status_code == 403
