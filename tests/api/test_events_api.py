import json

import pytest

from customers.models import Event
from tests.factories import CustomerFactory

WHEN = "2026-05-01T12:00:00Z"


@pytest.fixture
def ann(db):
    return CustomerFactory(email="ann@example.com", external_id="u-1")


def _event(**overrides):
    return {"email": "ann@example.com", "name": "purchase", "occurred_at": WHEN, **overrides}


def test_it_records_one_event(api, ann):
    response = api.post("/events", _event(value="19.90", currency="EUR", idempotency_key="o-1"))
    assert response.status_code == 202
    assert response.json() == {"accepted": 1, "duplicates": 0}
    assert api.post("/events", _event(idempotency_key="o-1")).json() == {
        "accepted": 0,
        "duplicates": 1,
    }
    assert str(Event.objects.get().value) == "19.90"


def test_it_records_a_batch_of_a_thousand(api, ann):
    events = [_event(idempotency_key=f"k{n}") for n in range(1000)]
    response = api.post("/events/batch", {"events": events})
    assert response.status_code == 202
    assert response.json() == {"accepted": 1000, "duplicates": 0}
    again = api.post("/events/batch", {"events": events})
    assert again.json() == {"accepted": 0, "duplicates": 1000}
    assert Event.objects.count() == 1000


def _refused(response):
    assert response.status_code == 422, response.content
    assert not Event.objects.exists()
    return {(e["index"], e["field"]): e["message"] for e in response.json()["errors"]}


def test_one_bad_event_refuses_the_batch_and_names_each_problem(api, ann):
    events = [
        _event(),
        _event(occurred_at="2026-05-01T12:00:00"),  # naive
        _event(occurred_at="1970-01-21T00:00:00Z"),  # milliseconds read as seconds
        _event(occurred_at="2999-01-01T00:00:00Z"),
        _event(email="nope"),
        _event(value="abc", currency="EUR"),
        _event(value="10.00"),
        _event(currency="eur", value="1"),
        _event(colour="red"),
        _event(name=""),
        _event(properties=[1, 2]),
        _event(idempotency_key="x" * 200),
        {"email": "ann@example.com", "name": "view"},
    ]
    errors = _refused(api.post("/events/batch", {"events": events}))
    assert errors == {
        (1, "occurred_at"): "needs a time zone offset, e.g. 2026-05-01T12:00:00Z",
        (2, "occurred_at"): "is before 2000-01-01; is it in milliseconds or the wrong unit?",
        (3, "occurred_at"): "is more than 24 hours in the future",
        (4, "email"): errors[4, "email"],
        (5, "value"): errors[5, "value"],
        (6, "currency"): "is required when value is set",
        (7, "currency"): errors[7, "currency"],
        (8, "colour"): "is not a known field",
        (9, "name"): errors[9, "name"],
        (10, "properties"): errors[10, "properties"],
        (11, "idempotency_key"): "is longer than 128 characters",
        (12, "occurred_at"): "is required",
    }
    assert "not a valid email address" in errors[4, "email"]
    assert "decimal" in errors[5, "value"].lower()
    assert "pattern" in errors[7, "currency"]


def test_unknown_customers_refuse_the_batch(api, ann):
    errors = _refused(
        api.post(
            "/events/batch",
            {
                "events": [
                    _event(),
                    _event(email="ghost@example.com"),
                    _event(email=None, external_id="u-404"),
                ]
            },
        )
    )
    assert errors == {
        (1, "email"): "no customer has email ghost@example.com",
        (2, "external_id"): "no customer has external_id u-404",
    }


def test_the_api_cannot_name_a_customer_by_internal_id(api, ann):
    # EventInput.customer_id is trusted, for Ladder's own callers that hold the row.
    other = CustomerFactory(email="bob@example.com")
    errors = _refused(api.post("/events", _event(customer_id=other.pk)))
    assert errors == {(None, "customer_id"): "is not a known field"}
    assert not Event.objects.exists()


def test_a_single_event_error_has_no_index(api, ann):
    errors = _refused(api.post("/events", _event(email="ghost@example.com")))
    assert errors == {(None, "email"): "no customer has email ghost@example.com"}


def test_batches_over_a_thousand_or_empty_are_refused(api, ann):
    too_many = _refused(api.post("/events/batch", {"events": [_event()] * 1001}))
    assert too_many[None, "events"] == "has 1001 items; at most 1000 are accepted"
    empty = _refused(api.post("/events/batch", {"events": []}))
    assert empty[None, "events"] == "needs at least 1 item(s)"
    assert _refused(api.post("/events/batch", {"events": "x"}))[None, "events"]


def test_malformed_json_gets_a_400_that_says_where(api, ann):
    response = api.post("/events/batch", '{"events": [\n  {"name": "x",}\n]}')
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "malformed_json"
    assert "line 2" in body["message"]
    assert not Event.objects.exists()


def test_an_oversized_body_gets_a_413(api, ann, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.LADDER_API_MAX_BODY_BYTES = 10_000
    body = json.dumps({"events": [_event(properties={"pad": "x" * 5000})] * 3})
    response = api.post("/events/batch", body)
    assert response.status_code == 413
    assert "10,000 bytes" in response.json()["message"]
    assert not Event.objects.exists()
