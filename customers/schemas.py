"""What callers may send about customers, as pydantic schemas.

The HTTP API declares its bodies with these, and the CSV import validates each
row with ``CustomerIn``, so a value is accepted or refused the same way (and
with the same message) wherever it comes from.
"""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

import orjson
from ninja import Schema
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    IPvAnyAddress,
    ValidationInfo,
    field_validator,
)

from customers.models import ConsentSource
from customers.services.events import EventInput
from customers.services.profiles import ProfileInput
from customers.validation import check_event_time, check_time_zone, normalize_email

#: Largest attributes or properties object, serialized, that one item may carry.
MAX_JSON_OBJECT_BYTES = 16 * 1024


def _check_json_size(value: dict[str, Any]) -> dict[str, Any]:
    size = len(orjson.dumps(value))
    if size > MAX_JSON_OBJECT_BYTES:
        raise ValueError(
            f"is {size:,} bytes as JSON; at most {MAX_JSON_OBJECT_BYTES:,} are accepted"
        )
    return value


Email = Annotated[str, Field(max_length=254), AfterValidator(normalize_email)]
ExternalId = Annotated[str, Field(min_length=1, max_length=128)]
TimeZoneName = Annotated[str, AfterValidator(check_time_zone)]
EventTime = Annotated[AwareDatetime, AfterValidator(check_event_time)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_check_json_size)]
#: BCP 47-ish: "en", "en-GB", "pt_BR", "zh-Hant-TW".
Locale = Annotated[str, Field(max_length=35, pattern=r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")]


class StrictSchema(BaseModel):
    """Unknown fields are an error, not silently dropped: a typo must not lose data.

    A plain pydantic model, not ninja's Schema: that one validates twice when
    extra fields are forbidden, and input needs none of its ORM helpers."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class CustomerIn(StrictSchema):
    """A customer profile to create or update. Give ``email``, ``external_id`` or both;
    fields left out are left as they are, ``attributes`` are merged key by key."""

    email: Email | None = None
    external_id: ExternalId | None = None
    first_name: str | None = Field(None, max_length=150)
    last_name: str | None = Field(None, max_length=150)
    locale: Locale | None = None
    time_zone: TimeZoneName | None = Field(None, description="IANA name, e.g. Europe/Paris")
    attributes: JsonObject | None = None

    def to_profile(self) -> ProfileInput:
        return ProfileInput(**self.model_dump())


class EventIn(StrictSchema):
    """Something a customer did. Name the customer by ``email`` or ``external_id``."""

    email: Email | None = None
    external_id: ExternalId | None = None
    name: str = Field(min_length=1, max_length=100, examples=["purchase"])
    properties: JsonObject = Field(default_factory=dict)
    value: Decimal | None = Field(
        None, max_digits=14, decimal_places=2, description="Monetary value, e.g. order total"
    )
    currency: str | None = Field(
        None, pattern=r"^[A-Z]{3}$", validate_default=True, description="ISO 4217, e.g. EUR"
    )
    occurred_at: EventTime
    idempotency_key: str | None = Field(
        None,
        min_length=1,
        max_length=128,
        description="The same key twice stores one event; set it to retry safely.",
    )

    @field_validator("currency")
    @classmethod
    def _currency_goes_with_value(cls, currency: str | None, info: ValidationInfo) -> str | None:
        has_value = info.data.get("value") is not None
        if has_value and not currency:
            raise ValueError("is required when value is set")
        if currency and not has_value and "value" in info.data:
            raise ValueError("is only accepted together with value")
        return currency

    def to_event(self) -> EventInput:
        data = self.model_dump()
        data["currency"] = data["currency"] or ""
        return EventInput(**data)


class EventBatchIn(StrictSchema):
    events: list[EventIn] = Field(min_length=1, max_length=1000)


class ConsentIn(StrictSchema):
    """Proof of a consent change, kept forever in the customer's consent history."""

    source: ConsentSource = ConsentSource.API
    text: str = Field("", max_length=10_000, description="The exact wording the customer saw")
    text_version: str = Field("", max_length=64, description="Or its version")
    ip_address: IPvAnyAddress | None = None
    user_agent: str = Field("", max_length=1000)


class MetricsOut(Schema):
    orders_count: int
    revenue: Decimal
    last_purchase_at: datetime | None
    engagement_score: float
    clv: Decimal


class CustomerOut(Schema):
    id: int
    email: str | None
    external_id: str | None
    first_name: str
    last_name: str
    locale: str
    time_zone: str
    attributes: dict[str, Any]
    stage: str
    stage_changed_at: datetime
    metrics: MetricsOut
    consents: dict[str, str] = Field(description="topic key -> granted, pending or withdrawn")
    suppressed: bool
    created_at: datetime
    updated_at: datetime


class ConsentOut(Schema):
    topic: str
    status: str


class EventsRecordedOut(Schema):
    accepted: int = Field(description="Events stored by this request")
    duplicates: int = Field(description="Events whose idempotency key was already stored")


class ErrorItem(Schema):
    index: int | None = Field(description="Position in the batch; null for a single item")
    field: str
    message: str


class ErrorOut(Schema):
    error: str
    message: str
    errors: list[ErrorItem] = []
