"""Unsubscribe (page and RFC 8058 one-click) and the preference centre."""

from datetime import timedelta

import pytest
import time_machine
from django.conf import settings
from django.test import Client

from campaigns.models import Delivery, Message
from campaigns.tokens import PREFERENCES_MAX_AGE, preferences_url, unsubscribe_url
from config import clock
from customers.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Event,
    Suppression,
    SuppressionReason,
    Topic,
)
from customers.selectors import customer_consents, customer_is_suppressed
from customers.services.consent import ConsentProof, consent_grant, consent_request
from customers.services.suppression import suppression_add
from tests.factories import CustomerFactory, email_marketing

SIGNUP = ConsentProof(source=ConsentSource.FORM, actor="signup-form", text_version="v3")
BROWSER = {"REMOTE_ADDR": "203.0.113.7", "HTTP_USER_AGENT": "Mail/1.0"}


def _path(url: str) -> str:
    return url.removeprefix(settings.LADDER_SITE_URL)


@pytest.fixture
def news(db):
    return Topic.objects.create(key="news", name="News", description="Monthly news")


@pytest.fixture
def delivery(messages, news):
    customer = CustomerFactory(email="ann@example.com")
    consent_grant(customer=customer, topic=email_marketing(), proof=SIGNUP)
    consent_grant(customer=customer, topic=news, proof=SIGNUP)
    message = Message.objects.get(key="m")
    return Delivery.objects.create(
        customer=customer,
        message=message,
        variant=message.variants.get(key="A"),
        status=Delivery.Status.SENT,
        sent_at=clock.now() - timedelta(days=1),
    )


@pytest.fixture
def one_click():
    """A mail client: no cookies, and CSRF checks as strict as in production."""
    return Client(enforce_csrf_checks=True)


def _unsubscribe(delivery) -> str:
    return _path(unsubscribe_url(delivery.pk))


def _preferences(customer) -> str:
    return _path(preferences_url(customer.pk))


def _withdrawals(customer) -> list[ConsentRecord]:
    return list(customer.consent_records.filter(status=ConsentStatus.WITHDRAWN))


# --- Unsubscribe ----------------------------------------------------------------


def test_it_asks_on_get_and_changes_nothing(client, delivery):
    response = client.get(_unsubscribe(delivery), **BROWSER)
    assert response.status_code == 200
    assert b"ann@example.com" in response.content
    assert b"Unsubscribe from everything" in response.content
    assert "no-store" in response["Cache-Control"]
    assert customer_consents(delivery.customer) == {"email_marketing": "granted", "news": "granted"}
    assert not _withdrawals(delivery.customer)
    assert not Event.objects.exists()
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is None


def test_it_unsubscribes_on_a_one_click_post_without_cookies_or_csrf_token(one_click, delivery):
    response = one_click.post(_unsubscribe(delivery), {"List-Unsubscribe": "One-Click"}, **BROWSER)
    assert response.status_code == 200
    customer = delivery.customer
    assert customer_consents(customer) == {"email_marketing": "withdrawn", "news": "granted"}
    [record] = _withdrawals(customer)
    assert (record.source, record.actor, record.ip_address, record.user_agent) == (
        ConsentSource.UNSUBSCRIBE,
        "customer",
        "203.0.113.7",
        "Mail/1.0",
    )
    assert "One-Click" in record.text
    [event] = Event.objects.filter(name="email_unsubscribed")
    assert event.properties == {
        "delivery_id": delivery.pk,
        "message": "m",
        "variant": "A",
        "topic": "email_marketing",
        "scope": "topic",
        "one_click": True,
    }
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at is not None
    assert not customer_is_suppressed(customer)


@pytest.mark.parametrize("scope", ["topic", "all"])
def test_the_page_and_the_unsubscribe_read_only_what_they_loaded(
    client, delivery, lazy_loads, scope
):
    assert b"ann@example.com" in client.get(_unsubscribe(delivery)).content
    assert client.post(_unsubscribe(delivery), {"scope": scope}).status_code == 200
    assert Event.objects.filter(name="email_unsubscribed").exists()
    assert lazy_loads == []


def test_it_is_harmless_to_post_again(one_click, delivery):
    one_click.post(_unsubscribe(delivery), {"List-Unsubscribe": "One-Click"})
    delivery.refresh_from_db()
    first = delivery.unsubscribed_at
    with time_machine.travel(clock.now() + timedelta(hours=1)):
        response = one_click.post(_unsubscribe(delivery), {"List-Unsubscribe": "One-Click"})
        one_click.post(_unsubscribe(delivery), {"scope": "topic"})
    assert response.status_code == 200
    assert len(_withdrawals(delivery.customer)) == 1
    assert Event.objects.filter(name="email_unsubscribed").count() == 1
    delivery.refresh_from_db()
    assert delivery.unsubscribed_at == first


def test_it_shows_an_unsubscribed_customer_that_they_are(client, delivery):
    client.post(_unsubscribe(delivery), {"scope": "topic"})
    response = client.get(_unsubscribe(delivery))
    assert b"You are unsubscribed" in response.content
    assert b'value="topic"' not in response.content


def test_it_unsubscribes_from_everything_and_suppresses_the_address(client, news, delivery):
    other = Topic.objects.create(key="offers", name="Offers")
    consent_request(customer=delivery.customer, topic=other, proof=SIGNUP)
    response = client.post(_unsubscribe(delivery), {"scope": "all"}, **BROWSER)
    assert response.status_code == 200
    assert b"unsubscribed from all" in response.content
    customer = delivery.customer
    assert customer_consents(customer) == {
        "email_marketing": "withdrawn",
        "news": "withdrawn",
        "offers": "withdrawn",
    }
    assert {r.source for r in _withdrawals(customer)} == {ConsentSource.UNSUBSCRIBE}
    assert Suppression.objects.get().reason == SuppressionReason.UNSUBSCRIBE_ALL
    assert customer_is_suppressed(customer)
    [event] = Event.objects.filter(name="email_unsubscribed")
    assert (event.properties["scope"], event.properties["one_click"]) == ("all", False)

    client.post(_unsubscribe(delivery), {"scope": "all"})
    assert len(_withdrawals(customer)) == 3
    assert Suppression.objects.count() == 1


def test_it_keeps_unsubscribe_links_working_for_years(one_click, delivery):
    with time_machine.travel(clock.now() + timedelta(days=5 * 365)):
        response = one_click.post(_unsubscribe(delivery), {"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert customer_consents(delivery.customer)["email_marketing"] == "withdrawn"


# --- Preference centre ------------------------------------------------------------


def test_the_preference_centre_shows_each_topic_with_its_status(client, news, delivery):
    Topic.objects.create(key="offers", name="Offers")
    response = client.get(_preferences(delivery.customer))
    assert response.status_code == 200
    rows = {row["topic"].key: row["granted"] for row in response.context["topics"]}
    assert rows == {"email_marketing": True, "news": True, "offers": False}
    assert b"Monthly news" in response.content


def test_the_unsubscribe_page_leads_to_the_preference_centre(client, delivery):
    path = client.get(_unsubscribe(delivery)).context["preferences_path"]
    assert client.get(path).status_code == 200


def test_it_records_preference_changes_with_proof(client, news, delivery):
    offers = Topic.objects.create(key="offers", name="Offers", description="Deals")
    customer = delivery.customer
    client.get(_preferences(customer))
    response = client.post(
        _preferences(customer), {"topic": ["email_marketing", "offers", "no-such"]}, **BROWSER
    )
    assert response.status_code == 200
    assert response.context["saved"]
    assert customer_consents(customer) == {
        "email_marketing": "granted",
        "news": "withdrawn",
        "offers": "granted",
    }
    granted = customer.consent_records.get(topic=offers)
    assert (granted.source, granted.actor, granted.text) == (
        ConsentSource.FORM,
        "customer",
        "Offers: Deals",
    )
    assert (granted.ip_address, granted.user_agent) == ("203.0.113.7", "Mail/1.0")
    [withdrawn] = _withdrawals(customer)
    assert (withdrawn.topic, withdrawn.source, withdrawn.actor) == (
        news,
        ConsentSource.UNSUBSCRIBE,
        "customer",
    )
    # The untouched grant keeps its history and wording.
    assert Consent.objects.get(customer=customer, topic=email_marketing()).text_version == "v3"

    count = ConsentRecord.objects.count()
    client.post(_preferences(customer), {"topic": ["email_marketing", "offers"]})
    assert ConsentRecord.objects.count() == count


def test_the_preference_centre_keeps_csrf_protection(one_click, delivery):
    response = one_click.post(_preferences(delivery.customer), {})
    assert response.status_code == 403
    assert customer_consents(delivery.customer)["email_marketing"] == "granted"


def test_a_grant_there_lifts_an_unsubscribe_from_everything(client, delivery):
    client.post(_unsubscribe(delivery), {"scope": "all"})
    assert b"Ticking a topic" in client.get(_preferences(delivery.customer)).content
    client.post(_preferences(delivery.customer), {"topic": ["news"]})
    assert not customer_is_suppressed(delivery.customer)
    assert customer_consents(delivery.customer)["news"] == "granted"


def test_a_grant_there_never_lifts_a_bounce(client, delivery):
    suppression_add(email="ann@example.com", reason=SuppressionReason.HARD_BOUNCE)
    client.post(_preferences(delivery.customer), {"topic": ["news"]})
    assert customer_is_suppressed(delivery.customer)


def test_preference_links_expire(client, delivery):
    path = _preferences(delivery.customer)
    with time_machine.travel(clock.now() + PREFERENCES_MAX_AGE + timedelta(hours=1)):
        response = client.get(path)
    assert response.status_code == 404
