import re

import pytest

from customers.models import ApiKey, ConsentSource, StageChange, Suppression, address_hash
from customers.services.api_keys import api_key_authenticate
from customers.services.consent import ConsentProof, consent_grant, consent_withdraw
from tests.factories import CustomerFactory, EventFactory, email_marketing


@pytest.fixture
def ann(db):
    ann = CustomerFactory(
        email="ann@example.com", external_id="shop-42", first_name="Ann", last_name="Lee"
    )
    consent_grant(
        customer=ann,
        topic=email_marketing(),
        proof=ConsentProof(ConsentSource.FORM, text_version="v7"),
    )
    EventFactory(customer=ann, name="purchase")
    return ann


@pytest.fixture
def bob(db):
    bob = CustomerFactory(email="bob@example.com", first_name="Bob")
    consent_withdraw(customer=bob, topic=email_marketing(), proof=ConsentProof(ConsentSource.API))
    return bob


@pytest.mark.parametrize("term", ["ann@example.com", "shop-42", "Lee", "Ann"])
def test_it_finds_customers_by_email_external_id_and_name(admin_client, ann, bob, term):
    page = admin_client.get("/admin/customers/customer/", {"q": term})
    assert b"ann@example.com" in page.content
    assert b"bob@example.com" not in page.content


def test_it_filters_by_stage_and_consent(admin_client, ann, bob):
    granted = admin_client.get("/admin/customers/customer/", {"consent": "email_marketing:granted"})
    assert b"ann@example.com" in granted.content and b"bob@example.com" not in granted.content
    withdrawn = admin_client.get(
        "/admin/customers/customer/", {"consent": "email_marketing:withdrawn"}
    )
    assert b"bob@example.com" in withdrawn.content and b"ann@example.com" not in withdrawn.content
    CustomerFactory(email="carl@example.com")
    never = admin_client.get("/admin/customers/customer/", {"consent": "email_marketing:none"})
    assert b"carl@example.com" in never.content and b"ann@example.com" not in never.content
    suspects = admin_client.get("/admin/customers/customer/", {"stage__exact": "suspect"})
    assert b"ann@example.com" in suspects.content


def test_the_customer_page_shows_consent_history_and_events_read_only(admin_client, ann):
    page = admin_client.get(f"/admin/customers/customer/{ann.pk}/change/")
    html = page.content.decode()
    assert "Consent history" in html and "v7" in html
    assert "Events" in html and "purchase" in html
    # Read-only inlines render no inputs for their rows.
    assert 'name="consent_records-0-status"' not in html
    assert 'name="events-0-name"' not in html


def test_changing_the_stage_in_the_admin_records_who_did_it(admin_client, ann):
    page = admin_client.get(f"/admin/customers/customer/{ann.pk}/change/")
    form = _form_values(page.content.decode())
    form.update(stage="prospect", attributes="{}")
    response = admin_client.post(f"/admin/customers/customer/{ann.pk}/change/", form)
    assert response.status_code == 302, response.content
    change = StageChange.objects.get(customer=ann)
    assert (change.from_stage, change.to_stage) == ("suspect", "prospect")
    assert change.cause == "set in admin by admin"


def test_an_api_key_is_shown_once_and_stored_as_a_hash(admin_client, db):
    response = admin_client.post("/admin/customers/apikey/add/", {"name": "shop"}, follow=True)
    raw = re.search(r"(ldr_[A-Za-z0-9_\-]+)", response.content.decode()).group(1)
    key = ApiKey.objects.get()
    assert raw not in (key.key_hash, key.prefix) and raw.startswith(key.prefix)
    assert api_key_authenticate(raw) == key
    listing = admin_client.get("/admin/customers/apikey/").content.decode()
    assert raw not in listing


def test_a_suppression_added_by_hand_keeps_only_the_hash(admin_client, db):
    response = admin_client.post(
        "/admin/customers/suppression/add/",
        {"email": "Spam@Example.com", "reason": "manual", "note": "asked by phone"},
    )
    assert response.status_code == 302
    assert Suppression.objects.get().address_hash == address_hash("spam@example.com")


def _form_values(html: str) -> dict[str, str]:
    """The values a browser would submit for the main form's simple inputs."""
    values = dict(re.findall(r'<input[^>]*name="([^"]+)"[^>]*value="([^"]*)"', html))
    for name, selected in re.findall(
        r'<select name="([^"]+)"[^>]*>.*?<option value="([^"]*)" selected', html, re.S
    ):
        values[name] = selected
    return values
