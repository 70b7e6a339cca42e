"""Reads of customer data that more than one caller needs."""

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from customers.models import Consent, ConsentStatus, Customer, Suppression, address_hash


def customer_is_suppressed(customer: Customer) -> bool:
    return (
        bool(customer.email)
        and Suppression.objects.filter(address_hash=address_hash(customer.email)).exists()
    )


def customers_sendable(topic: str) -> QuerySet[Customer]:
    """Customers who may get marketing email on ``topic``: consented, not suppressed."""
    return Customer.objects.filter(
        Exists(
            Consent.objects.filter(
                customer=OuterRef("pk"), topic__key=topic, status=ConsentStatus.GRANTED
            )
        ),
        erased_at__isnull=True,
        email__isnull=False,
    ).exclude(Exists(Suppression.objects.filter(address_hash=OuterRef("email_hash"))))


def customer_consents(customer: Customer) -> dict[str, str]:
    """Topic key -> current consent status."""
    return dict(customer.consents.values_list("topic__key", "status"))


def customer_export(customer: Customer) -> dict[str, Any]:
    """Everything Ladder holds on one customer (GDPR art. 15), JSON-ready."""
    profile = {
        field: getattr(customer, field)
        for field in (
            "id",
            "email",
            "external_id",
            "first_name",
            "last_name",
            "locale",
            "time_zone",
            "attributes",
            "stage",
            "stage_changed_at",
            "orders_count",
            "revenue",
            "last_purchase_at",
            "engagement_score",
            "clv",
            "first_purchase_at",
            "last_open_at",
            "last_click_at",
            "open_rate",
            "click_rate",
            "lapsed_at",
            "created_at",
            "updated_at",
            "erased_at",
        )
    }
    return {
        "customer": profile,
        "consents": customer_consents(customer),
        "consent_history": list(
            customer.consent_records.order_by("recorded_at", "id").values(
                "topic__key",
                "status",
                "source",
                "actor",
                "text",
                "text_version",
                "ip_address",
                "user_agent",
                "recorded_at",
            )
        ),
        "events": list(
            customer.events.order_by("occurred_at", "id").values(
                "name",
                "properties",
                "value",
                "currency",
                "occurred_at",
                "received_at",
                "idempotency_key",
            )
        ),
        "stage_history": list(
            customer.stage_changes.order_by("changed_at", "id").values(
                "from_stage", "to_stage", "changed_at", "cause"
            )
        ),
        "suppressed": customer_is_suppressed(customer),
    }
