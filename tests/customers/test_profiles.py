import pytest

from customers.errors import InvalidInput
from customers.models import Customer, Stage, StageChange
from customers.services.profiles import ProfileInput, customer_upsert, customers_upsert
from tests.factories import CustomerFactory


def test_it_creates_a_suspect_and_records_its_first_stage(db):
    result = customer_upsert(
        profile=ProfileInput(email="ann@example.com", first_name="Ann"), cause="test"
    )
    assert result.created
    assert result.customer.stage == Stage.SUSPECT
    change = StageChange.objects.get(customer=result.customer)
    assert (change.from_stage, change.to_stage, change.cause) == ("", Stage.SUSPECT, "test")


def test_it_updates_by_email_and_keeps_fields_left_out(db):
    customer = CustomerFactory(email="ann@example.com", first_name="Ann", last_name="Lee")
    result = customer_upsert(
        profile=ProfileInput(email="ann@example.com", first_name="Anna"), cause="test"
    )
    customer.refresh_from_db()
    assert not result.created
    assert (customer.first_name, customer.last_name) == ("Anna", "Lee")


def test_it_matches_by_external_id_first_and_may_change_the_email(db):
    customer = CustomerFactory(email="old@example.com", external_id="u-1")
    customer_upsert(profile=ProfileInput(external_id="u-1", email="new@example.com"), cause="t")
    customer.refresh_from_db()
    assert customer.email == "new@example.com"


def test_it_merges_attributes_key_by_key(db):
    customer = CustomerFactory(attributes={"plan": "free", "city": "Lyon"})
    customer_upsert(
        profile=ProfileInput(email=customer.email, attributes={"plan": "pro"}), cause="t"
    )
    customer.refresh_from_db()
    assert customer.attributes == {"plan": "pro", "city": "Lyon"}


def test_it_refuses_an_email_and_external_id_of_two_different_customers(db):
    CustomerFactory(email="a@example.com", external_id="u-1")
    CustomerFactory(email="b@example.com", external_id="u-2")
    with pytest.raises(InvalidInput) as exc:
        customer_upsert(profile=ProfileInput(email="b@example.com", external_id="u-1"), cause="t")
    assert exc.value.errors[0].field == "email"
    assert "belongs to customer" in exc.value.errors[0].message
    assert Customer.objects.get(external_id="u-1").email == "a@example.com"


def test_it_never_changes_an_external_id(db):
    CustomerFactory(email="a@example.com", external_id="u-1")
    with pytest.raises(InvalidInput) as exc:
        customer_upsert(profile=ProfileInput(email="a@example.com", external_id="u-9"), cause="t")
    assert exc.value.errors[0].field == "external_id"


def test_a_batch_with_one_bad_item_writes_nothing(db):
    profiles = [
        ProfileInput(email="one@example.com"),
        ProfileInput(),  # neither email nor external id
        ProfileInput(email="one@example.com"),  # repeated
    ]
    with pytest.raises(InvalidInput) as exc:
        customers_upsert(profiles=profiles, cause="t")
    assert [(e.index, e.field) for e in exc.value.errors] == [(1, "email"), (2, "email")]
    assert Customer.objects.count() == 0


def test_a_batch_takes_a_fixed_number_of_queries(db, django_assert_max_num_queries):
    existing = [c.email for c in CustomerFactory.create_batch(50)]
    new = [f"new{n}@example.com" for n in range(450)]
    profiles = [ProfileInput(email=email, first_name="X") for email in existing + new]
    # A per-row loop would take 500+; SQLite splits bulk inserts at 999 parameters.
    with django_assert_max_num_queries(20):
        results = customers_upsert(profiles=profiles, cause="t")
    assert sum(r.created for r in results) == 450
    assert Customer.objects.filter(first_name="X").count() == 500
