"""Previews and test sends render a variant for one customer, from the database."""

from datetime import UTC, datetime
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.context import contexts_for
from campaigns.models import Delivery, Message, Variant
from customers.models import Customer
from customers.services.events import EventInput, events_record
from tests.factories import CustomerFactory, email_marketing

BODY = """<p>Hi {{ customer.first_name }},</p>
{% for e in recent_events if e.name == "purchase" %}<p>{{ e.properties.sku }}</p>{% endfor %}
<a href="https://shop.example.com/more">More</a>"""


@pytest.fixture
def welcome(db):
    message = Message.objects.create(key="welcome", name="Welcome", topic=email_marketing())
    Variant.objects.create(
        message=message, key="A", subject="Hello {{ customer.first_name }}", html_body=BODY
    )
    return message


@pytest.fixture
def ann(db):
    ann = CustomerFactory(email="ann@example.com", first_name="Ann")
    events_record(
        events=[
            EventInput(
                name="purchase",
                email=ann.email,
                properties={"sku": f"SKU-{n}"},
                value=Decimal("5.00"),
                currency="EUR",
                occurred_at=datetime(2026, 5, n, tzinfo=UTC),
            )
            for n in range(1, 15)
        ]
    )
    return ann


def test_contexts_hold_the_newest_events_first_in_one_query(ann, django_assert_num_queries):
    bob = CustomerFactory()
    with django_assert_num_queries(1):
        contexts = contexts_for([ann, bob], message_key="m", variant_key="A")
    events = contexts[ann.pk]["recent_events"]
    assert len(events) == 10
    assert events[0]["properties"]["sku"] == "SKU-14"
    assert contexts[bob.pk]["recent_events"] == []
    assert contexts[ann.pk]["customer"]["full_name"].startswith("Ann")


def test_context_events_keep_their_exact_values_and_aware_times(ann):
    events_record(
        events=[
            EventInput(
                name="refund",
                email=ann.email,
                properties={"reason": 'Zoë\'s "wrong" size', "items": [1, 2]},
                value=Decimal("7"),
                currency="EUR",
                occurred_at=datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
            ),
            EventInput(
                name="page_view",
                email=ann.email,
                occurred_at=datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
            ),
        ]
    )

    newest = contexts_for([ann], message_key="m", variant_key="A")[ann.pk]["recent_events"]

    # Two events at the same moment: the one recorded last comes first.
    assert [e["name"] for e in newest[:3]] == ["page_view", "refund", "purchase"]
    refund = newest[1]
    assert refund == {
        "name": "refund",
        "properties": {"reason": 'Zoë\'s "wrong" size', "items": [1, 2]},
        "value": Decimal("7.00"),
        "currency": "EUR",
        "occurred_at": datetime(2026, 6, 1, 12, 30, 15, 123456, tzinfo=UTC),
    }
    assert str(refund["value"]) == "7.00"
    assert refund["occurred_at"].utcoffset().total_seconds() == 0
    assert newest[0]["value"] is None
    assert (newest[2]["properties"]["sku"], str(newest[2]["value"])) == ("SKU-14", "5.00")


def test_the_preview_command_prints_the_personal_email(welcome, ann, tmp_path):
    out = StringIO()
    html = tmp_path / "preview.html"
    call_command(
        "preview_message", "welcome", "--customer", "Ann@Example.com", "--html", html, stdout=out
    )
    assert "Subject: Hello Ann" in out.getvalue()
    assert "SKU-14" in out.getvalue()
    assert "https://shop.example.com/more" in html.read_text()
    assert not Delivery.objects.exists()


def test_a_test_send_goes_to_any_address_marked_as_a_test(welcome, ann, mailoutbox):
    call_command(
        "preview_message",
        "welcome",
        "--customer",
        str(ann.pk),
        "--send-test",
        "qa@example.org",
        stdout=StringIO(),
    )
    [sent] = mailoutbox
    assert sent.to == ["qa@example.org"] and sent.subject == "[TEST] Hello Ann"
    assert "SKU-14" in sent.alternatives[0][0]
    assert not Delivery.objects.exists()


def test_the_preview_command_says_what_is_missing(welcome, ann):
    with pytest.raises(CommandError, match="no message 'nope'"):
        call_command("preview_message", "nope", "--customer", ann.email)
    with pytest.raises(CommandError, match="no variant 'Z'"):
        call_command("preview_message", "welcome", "--customer", ann.email, "--variant", "Z")
    with pytest.raises(CommandError, match="no customer"):
        call_command("preview_message", "welcome", "--customer", "ghost@example.com")
    assert Customer.objects.count() == 1
