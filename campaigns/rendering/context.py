"""The personalization context templates see, filled with sample values.

The delivery code builds the real one from plain dicts, lists and values — never
model instances, so no template can reach the ORM. ``docs/templates.md``
documents every name; its examples render against :func:`sample_context`.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from jinja2 import ChainableUndefined


def sample_context() -> dict[str, Any]:
    """A context with every documented name filled in, for previews and the save-time check."""
    return {
        "customer": {
            "first_name": "Ada",
            "last_name": "Lovelace",
            "full_name": "Ada Lovelace",
            "email": "ada@example.com",
            "locale": "en-GB",
            "time_zone": "Europe/London",
            "stage": "repeat",
            "attributes": {"city": "London", "favourite_category": "books", "vip": True},
            "metrics": {
                "orders_count": 3,
                "revenue": Decimal("184.50"),
                "clv": Decimal("420.00"),
                "last_purchase_at": datetime(2025, 3, 14, 10, 30, tzinfo=UTC),
                "engagement_score": 0.72,
            },
        },
        "recent_events": [
            {
                "name": "purchase",
                "properties": {
                    "product": "The Analytical Engine",
                    "sku": "BK-1843",
                    "url": "https://shop.example.com/p/analytical-engine",
                },
                "value": Decimal("39.00"),
                "currency": "EUR",
                "occurred_at": datetime(2025, 3, 14, 10, 30, tzinfo=UTC),
            },
            {
                "name": "page_view",
                "properties": {"url": "https://shop.example.com/c/books"},
                "value": None,
                "currency": "",
                "occurred_at": datetime(2025, 3, 12, 18, 5, tzinfo=UTC),
            },
        ],
        "unsubscribe_url": "https://ladder.example.com/u/sample-token",
        "preferences_url": "https://ladder.example.com/p/sample-token",
        "message": {"key": "welcome", "variant": "A"},
    }


#: The names a template may use (besides Jinja's globals such as ``range``).
CONTEXT_NAMES = frozenset(sample_context())


class _FreeForm(dict):
    """Customer attributes and event properties: their keys differ per customer.

    A key one customer lacks is not a template error, so the strict save-time
    check lets it through as empty, as live rendering would.
    """

    def __missing__(self, key: str) -> Any:
        return ChainableUndefined(name=key)


def check_context() -> dict[str, Any]:
    """:func:`sample_context`, with free-form dicts that forgive unknown keys."""
    context = sample_context()
    customer = context["customer"]
    customer["attributes"] = _FreeForm(customer["attributes"])
    context["recent_events"] = [
        {**event, "properties": _FreeForm(event["properties"])}
        for event in context["recent_events"]
    ]
    return context
