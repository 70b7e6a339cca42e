"""Personalization contexts from the database, for many customers at once.

Templates get plain dicts in the shape ``campaigns.rendering.sample_context``
documents (docs/templates.md), never model instances, so a template cannot
reach the ORM. One query per batch (the events), whatever its size.
"""

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db.models import F, Window
from django.db.models.functions import RowNumber

from customers.models import Customer, Event

#: How many of a customer's newest events a template sees as ``recent_events``.
RECENT_EVENTS = 10


def customer_dict(customer: Customer) -> dict[str, Any]:
    return {
        "first_name": customer.first_name,
        "last_name": customer.last_name,
        "full_name": customer.full_name,
        "email": customer.email,
        "locale": customer.locale,
        "time_zone": customer.time_zone,
        "stage": customer.stage,
        "attributes": customer.attributes,
        "metrics": {
            "orders_count": customer.orders_count,
            "revenue": customer.revenue,
            "clv": customer.clv,
            "last_purchase_at": customer.last_purchase_at,
            "engagement_score": customer.engagement_score,
        },
    }


def recent_events(customer_ids: Sequence[int], *, limit: int = RECENT_EVENTS) -> dict[int, list]:
    """Each customer's ``limit`` newest events, newest first, in one windowed query."""
    ranked = (
        Event.objects.filter(customer_id__in=list(customer_ids))
        .annotate(
            rank=Window(
                RowNumber(), partition_by=F("customer_id"), order_by=F("occurred_at").desc()
            )
        )
        .filter(rank__lte=limit)
        .order_by("customer_id", "-occurred_at")
        .values("customer_id", "name", "properties", "value", "currency", "occurred_at")
    )
    events: dict[int, list] = defaultdict(list)
    for row in ranked:
        events[row.pop("customer_id")].append(row)
    return events


def context_of(
    customer: Customer, events: list, *, message_key: str, variant_key: str
) -> dict[str, Any]:
    """One customer's context from their ``recent_events``, without the per-email
    URLs (the caller adds ``unsubscribe_url`` and ``preferences_url``)."""
    return {
        "customer": customer_dict(customer),
        "recent_events": events,
        "message": {"key": message_key, "variant": variant_key},
    }


def contexts_for(
    customers: Sequence[Customer], *, message_key: str, variant_key: str
) -> dict[int, dict[str, Any]]:
    """Customer id -> :func:`context_of`, for one message variant."""
    events = recent_events([c.pk for c in customers])
    return {
        customer.pk: context_of(
            customer, events.get(customer.pk, []), message_key=message_key, variant_key=variant_key
        )
        for customer in customers
    }
