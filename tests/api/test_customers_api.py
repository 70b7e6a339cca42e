from customers.models import ApiKey, ConsentRecord, Customer
from tests.factories import CustomerFactory


def test_it_refuses_requests_without_a_valid_key(client, db):
    for headers in ({}, {"Authorization": "Bearer ldr_wrong"}, {"Authorization": "Basic x"}):
        response = client.get("/api/v1/customers/1", headers=headers)
        assert response.status_code == 401
        assert "Authorization: Bearer" in response.json()["message"]


def test_a_revoked_key_stops_working(api, db):
    assert api.get("/customers/lookup?email=a@example.com").status_code == 404
    ApiKey.objects.update(revoked_at="2026-01-01T00:00:00Z")
    assert api.get("/customers/lookup?email=a@example.com").status_code == 401


def test_it_creates_then_updates_a_customer(api):
    created = api.post(
        "/customers",
        {
            "email": "Ann@Example.com",
            "first_name": "Ann",
            "time_zone": "Europe/Paris",
            "attributes": {"plan": "free"},
        },
    )
    assert created.status_code == 201
    body = created.json()
    assert (body["email"], body["stage"], body["time_zone"]) == (
        "ann@example.com",
        "suspect",
        "Europe/Paris",
    )
    assert body["metrics"]["orders_count"] == 0 and body["consents"] == {}

    updated = api.post("/customers", {"email": "ann@example.com", "attributes": {"city": "Lyon"}})
    assert updated.status_code == 200
    assert updated.json()["attributes"] == {"plan": "free", "city": "Lyon"}
    assert updated.json()["id"] == body["id"]


def test_it_reads_and_looks_up_customers(api, db):
    customer = CustomerFactory(email="ann@example.com", external_id="u-1")
    assert api.get(f"/customers/{customer.pk}").json()["email"] == "ann@example.com"
    assert api.get("/customers/lookup?external_id=u-1").json()["id"] == customer.pk
    assert api.get("/customers/lookup?email=ANN@example.com").json()["id"] == customer.pk
    missing = api.get("/customers/999999")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"
    no_key = api.get("/customers/lookup")
    assert no_key.status_code == 422
    assert no_key.json()["errors"][0]["message"] == "email or external_id is required"


def _assert_refused(response, field, message_part):
    assert response.status_code == 422, response.content
    body = response.json()
    assert "nothing was stored" in body["message"]
    matching = [e for e in body["errors"] if e["field"] == field]
    assert matching, body
    assert message_part in matching[0]["message"]


def test_bad_profiles_are_refused_field_by_field_and_nothing_is_written(api, db):
    CustomerFactory(email="a@example.com", external_id="u-1")
    CustomerFactory(email="b@example.com", external_id="u-2")
    cases = [
        ({"email": "not-an-address"}, "email", "not a valid email address"),
        ({"email": "c@example.com", "time_zone": "Mars/Olympus"}, "time_zone", "unknown time zone"),
        ({"email": "c@example.com", "favourite": 1}, "favourite", "is not a known field"),
        ({"email": "c@example.com", "first_name": 7}, "first_name", "string"),
        ({"email": "c@example.com", "attributes": "x"}, "attributes", "dictionary"),
        ({"email": "c@example.com", "attributes": {"k": "x" * 20000}}, "attributes", "bytes"),
        ({"email": "c@example.com", "locale": "english!"}, "locale", "pattern"),
        ({}, "email", "email or external_id is required"),
        ({"email": "b@example.com", "external_id": "u-1"}, "email", "belongs to customer"),
    ]
    for payload, field, message in cases:
        _assert_refused(api.post("/customers", payload), field, message)
    assert Customer.objects.count() == 2
    assert Customer.objects.get(external_id="u-1").email == "a@example.com"


def test_consent_is_granted_and_withdrawn_with_proof(api, db):
    customer = CustomerFactory()
    granted = api.post(
        f"/customers/{customer.pk}/consents/email_marketing/grant",
        {"source": "form", "text_version": "v2", "ip_address": "203.0.113.5", "user_agent": "UA"},
    )
    assert granted.json() == {"topic": "email_marketing", "status": "granted"}
    withdrawn = api.post(f"/customers/{customer.pk}/consents/email_marketing/withdraw", {})
    assert withdrawn.json()["status"] == "withdrawn"
    first = ConsentRecord.objects.order_by("id").first()
    assert (first.source, first.actor, first.text_version, first.ip_address) == (
        "form",
        "api:tests",
        "v2",
        "203.0.113.5",
    )
    assert api.get(f"/customers/{customer.pk}").json()["consents"] == {
        "email_marketing": "withdrawn"
    }


def test_double_opt_in_through_the_api_sends_a_confirmation(
    api, db, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(f"/customers/{customer.pk}/consents/email_marketing/request", {})
    assert response.json()["status"] == "pending"
    assert mailoutbox[0].to == ["ann@example.com"]
    assert "/consent/confirm/" in mailoutbox[0].body


def test_bad_consent_requests_are_refused(api, db):
    customer = CustomerFactory()
    assert api.post(f"/customers/{customer.pk}/consents/sms/grant", {}).status_code == 404
    _assert_refused(
        api.post(
            f"/customers/{customer.pk}/consents/email_marketing/grant", {"ip_address": "999.1.1.1"}
        ),
        "ip_address",
        "IP",
    )
    _assert_refused(
        api.post(f"/customers/{customer.pk}/consents/email_marketing/grant", {"source": "fax"}),
        "source",
        "",
    )
    assert not ConsentRecord.objects.exists()


def test_export_and_erasure(api, db):
    customer = CustomerFactory(email="ann@example.com")
    export = api.get(f"/customers/{customer.pk}/export").json()
    assert export["customer"]["email"] == "ann@example.com"
    erased = api.delete(f"/customers/{customer.pk}")
    assert erased.status_code == 200 and erased.json()["erased_at"]
    assert api.get(f"/customers/{customer.pk}").status_code == 404
    assert Customer.objects.get(pk=customer.pk).email is None


def test_the_openapi_document_and_interactive_docs_are_served(client, db):
    spec = client.get("/api/v1/openapi.json")
    assert spec.status_code == 200
    assert {"/api/v1/customers", "/api/v1/events/batch"} <= set(spec.json()["paths"])
    assert client.get("/api/v1/docs").status_code == 200
