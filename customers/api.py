"""HTTP endpoints for customers, consent and events: parse, call a service, shape the answer."""

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Query, Router, Schema, Status
from ninja.security import HttpBearer

from customers import selectors
from customers.errors import FieldError, InvalidInput
from customers.models import ApiKey, Customer, Topic
from customers.schemas import (
    ConsentIn,
    ConsentOut,
    CustomerIn,
    CustomerOut,
    Email,
    ErrorOut,
    EventBatchIn,
    EventIn,
    EventsRecordedOut,
    ExternalId,
)
from customers.services.api_keys import api_key_authenticate
from customers.services.consent import (
    ConsentProof,
    consent_grant,
    consent_request,
    consent_withdraw,
)
from customers.services.erasure import customer_erase
from customers.services.events import events_record
from customers.services.profiles import customer_upsert


class ApiKeyAuth(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return api_key_authenticate(token)


router = Router(auth=ApiKeyAuth(), tags=["customers"])

ERRORS = {400: ErrorOut, 401: ErrorOut, 404: ErrorOut, 413: ErrorOut, 422: ErrorOut}


def _customer_out(customer: Customer) -> dict:
    return {
        **{f: getattr(customer, f) for f in CustomerOut.model_fields if hasattr(customer, f)},
        "metrics": customer,
        "consents": selectors.customer_consents(customer),
        "suppressed": selectors.customer_is_suppressed(customer),
    }


def _live_customer(customer_id: int) -> Customer:
    return get_object_or_404(Customer, pk=customer_id, erased_at__isnull=True)


def _proof(request: HttpRequest, body: ConsentIn) -> ConsentProof:
    return ConsentProof(
        source=body.source,
        actor=f"api:{request.auth.name}",
        text=body.text,
        text_version=body.text_version,
        ip_address=str(body.ip_address) if body.ip_address else None,
        user_agent=body.user_agent,
    )


@router.post("/customers", response={200: CustomerOut, 201: CustomerOut, **ERRORS})
def upsert_customer(request: HttpRequest, payload: CustomerIn):
    """Create a customer, or update the one with this external id or email.

    Answers 201 when created, 200 when updated. Fields left out are kept;
    ``attributes`` are merged key by key.
    """
    result = customer_upsert(
        profile=payload.to_profile(), cause=f"created via API ({request.auth.name})"
    )
    return Status(201 if result.created else 200, _customer_out(result.customer))


class LookupQuery(Schema):
    email: Email | None = None
    external_id: ExternalId | None = None


@router.get("/customers/lookup", response={200: CustomerOut, **ERRORS})
def lookup_customer(request: HttpRequest, query: Query[LookupQuery]):
    """Find a customer by ``email`` or ``external_id``."""
    if query.external_id:
        customer = get_object_or_404(Customer, external_id=query.external_id)
    elif query.email:
        customer = get_object_or_404(Customer, email=query.email)
    else:
        raise InvalidInput([FieldError(None, "email", "email or external_id is required")])
    return _customer_out(customer)


@router.get("/customers/{customer_id}", response={200: CustomerOut, **ERRORS})
def get_customer(request: HttpRequest, customer_id: int):
    """A customer with stage, consents and metrics."""
    return _customer_out(_live_customer(customer_id))


@router.post(
    "/customers/{customer_id}/consents/{topic}/grant", response={200: ConsentOut, **ERRORS}
)
def grant_consent(request: HttpRequest, customer_id: int, topic: str, payload: ConsentIn):
    """Record that the customer agreed to ``topic``, with its proof."""
    customer, topic_obj = _live_customer(customer_id), get_object_or_404(Topic, key=topic)
    consent_grant(customer=customer, topic=topic_obj, proof=_proof(request, payload))
    return {"topic": topic, "status": selectors.customer_consents(customer)[topic]}


@router.post(
    "/customers/{customer_id}/consents/{topic}/withdraw", response={200: ConsentOut, **ERRORS}
)
def withdraw_consent(request: HttpRequest, customer_id: int, topic: str, payload: ConsentIn):
    """Record that the customer took back consent to ``topic``."""
    customer, topic_obj = _live_customer(customer_id), get_object_or_404(Topic, key=topic)
    consent_withdraw(customer=customer, topic=topic_obj, proof=_proof(request, payload))
    return {"topic": topic, "status": selectors.customer_consents(customer)[topic]}


@router.post(
    "/customers/{customer_id}/consents/{topic}/request", response={200: ConsentOut, **ERRORS}
)
def request_consent(request: HttpRequest, customer_id: int, topic: str, payload: ConsentIn):
    """Double opt-in: mark consent pending and email the customer a confirmation link.

    Nothing is sent if consent is already granted.
    """
    customer, topic_obj = _live_customer(customer_id), get_object_or_404(Topic, key=topic)
    consent_request(customer=customer, topic=topic_obj, proof=_proof(request, payload))
    return {"topic": topic, "status": selectors.customer_consents(customer)[topic]}


@router.get("/customers/{customer_id}/export", response={200: dict, **ERRORS})
def export_customer(request: HttpRequest, customer_id: int):
    """Everything Ladder holds on the customer, as JSON (right of access)."""
    return selectors.customer_export(_live_customer(customer_id))


@router.delete("/customers/{customer_id}", response={200: dict, **ERRORS})
def erase_customer(request: HttpRequest, customer_id: int):
    """Erase the customer's personal data (right to erasure).

    The anonymous row, its events without properties and any suppression (a
    hash) are kept, so reports stay true and a suppressed address stays so.
    """
    customer = customer_erase(customer=_live_customer(customer_id))
    return {"id": customer.pk, "erased_at": customer.erased_at}


@router.post("/events", response={202: EventsRecordedOut, **ERRORS})
def record_event(request: HttpRequest, payload: EventIn):
    """Record one event. Send ``idempotency_key`` to make retries safe."""
    try:
        return Status(202, events_record(events=[payload.to_event()]))
    except InvalidInput as exc:
        raise exc.for_single_item() from None


@router.post("/events/batch", response={202: EventsRecordedOut, **ERRORS})
def record_events(request: HttpRequest, payload: EventBatchIn):
    """Record up to 1,000 events at once, all or none.

    The whole batch is validated first: if any event is invalid the answer is
    422 listing each bad event by ``index`` and ``field``, and nothing is stored.
    """
    return Status(202, events_record(events=[event.to_event() for event in payload.events]))
