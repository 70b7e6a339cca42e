from datetime import UTC, datetime

from customers.models import ConsentSource, Customer, Event, Suppression, SuppressionReason
from customers.selectors import customer_export, customer_is_suppressed
from customers.services.consent import ConsentProof, consent_grant
from customers.services.erasure import customer_erase
from customers.services.suppression import suppression_add, suppression_remove
from tests.factories import CustomerFactory, EventFactory, email_marketing


def _customer_with_history():
    customer = CustomerFactory(
        email="ann@example.com", external_id="u-1", first_name="Ann", attributes={"city": "Lyon"}
    )
    consent_grant(
        customer=customer,
        topic=email_marketing(),
        proof=ConsentProof(
            ConsentSource.FORM, text_version="v1", ip_address="203.0.113.9", user_agent="Mozilla"
        ),
    )
    EventFactory(
        customer=customer,
        name="purchase",
        properties={"address": "1 rue X"},
        occurred_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    return customer


def test_the_export_holds_everything_about_the_customer(db):
    customer = _customer_with_history()
    export = customer_export(customer)
    assert export["customer"]["email"] == "ann@example.com"
    assert export["customer"]["attributes"] == {"city": "Lyon"}
    assert export["consents"] == {"email_marketing": "granted"}
    assert export["consent_history"][0]["ip_address"] == "203.0.113.9"
    assert export["events"][0]["properties"] == {"address": "1 rue X"}
    assert export["stage_history"] == []
    assert export["suppressed"] is False


def test_erasure_removes_personal_data_and_keeps_aggregates(db):
    customer = _customer_with_history()
    suppression_add(email="ann@example.com", reason=SuppressionReason.COMPLAINT)

    customer_erase(customer=customer)

    customer.refresh_from_db()
    assert (customer.email, customer.external_id, customer.first_name) == (None, None, "")
    assert customer.attributes == {}
    assert customer.erased_at is not None
    event = Event.objects.get()
    assert event.properties == {} and event.name == "purchase"
    record = customer.consent_records.get()
    assert (record.ip_address, record.user_agent, record.text_version) == (None, "", "v1")
    # The suppression is a hash of the address: it outlives the customer.
    assert Suppression.objects.count() == 1
    again = Customer.objects.create(email="ann@example.com")
    assert customer_is_suppressed(again)


def test_suppression_stores_only_a_hash_and_can_be_lifted(db):
    suppression = suppression_add(email="ann@example.com", reason=SuppressionReason.MANUAL)
    assert "ann" not in suppression.address_hash and len(suppression.address_hash) == 64
    assert suppression_add(email="ann@example.com", reason=SuppressionReason.COMPLAINT).reason == (
        SuppressionReason.MANUAL
    )
    assert suppression_remove(email="ann@example.com")
    assert not Suppression.objects.exists()
