"""Personalization contexts from the database, for many customers at once.

Templates get plain dicts in the shape ``campaigns.rendering.sample_context``
documents (docs/templates.md), never model instances, so a template cannot
reach the ORM. One query per batch (the events), whatever its size.
"""

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection

from config.db import int_array
from customers.models import Customer, Event

#: How many of a customer's newest events a template sees as ``recent_events``.
RECENT_EVENTS = 10


#: The customer columns a template sees (docs/templates.md), in the order
#: :func:`customer_context` reads them; dispatch selects exactly these.
CUSTOMER_COLUMNS = (
    "first_name",
    "last_name",
    "email",
    "locale",
    "time_zone",
    "stage",
    "attributes",
    "orders_count",
    "revenue",
    "clv",
    "last_purchase_at",
    "engagement_score",
)


def customer_context(values: Sequence[Any]) -> dict[str, Any]:
    """The template's ``customer`` from the values of :data:`CUSTOMER_COLUMNS`."""
    (first_name, last_name, email, locale, time_zone, stage, attributes,
     orders_count, revenue, clv, last_purchase_at, engagement_score) = values  # fmt: skip
    return {
        "first_name": first_name,
        "last_name": last_name,
        "full_name": f"{first_name} {last_name}".strip(),
        "email": email,
        "locale": locale,
        "time_zone": time_zone,
        "stage": stage,
        "attributes": attributes,
        "metrics": {
            "orders_count": orders_count,
            "revenue": revenue,
            "clv": clv,
            "last_purchase_at": last_purchase_at,
            "engagement_score": engagement_score,
        },
    }


def customer_dict(customer: Customer) -> dict[str, Any]:
    return customer_context([getattr(customer, column) for column in CUSTOMER_COLUMNS])


#: Each customer's newest events as one JSON array, ranked in SQL. The database
#: builds the JSON (as text: psycopg would decode json with the slower stdlib),
#: so the worker decodes one string per customer instead of
#: converting five columns of every event (``value`` as text keeps the decimal
#: exact). Each event is an array, not an object: building the JSON was most of
#: the query, and the six key names a third of that. ``%(table)s`` is the
#: events table; the parameters are the customer ids and the limit.
_RECENT_SQL = {
    "postgresql": """
        SELECT customer_id, json_agg(json_build_array(
            rank, name, properties, value::text, currency, occurred_at))::text
        FROM (SELECT customer_id, name, properties, value, currency, occurred_at,
                     row_number() OVER (PARTITION BY customer_id
                                        ORDER BY occurred_at DESC, id DESC) AS rank
              FROM %(table)s WHERE customer_id = ANY(%%s::bigint[])) AS ranked
        WHERE rank <= %%s GROUP BY customer_id""",
    "sqlite": """
        SELECT customer_id, json_group_array(json_array(
            rank, name, json(properties), CAST(value AS TEXT), currency, occurred_at))
        FROM (SELECT customer_id, name, properties, value, currency, occurred_at,
                     row_number() OVER (PARTITION BY customer_id
                                        ORDER BY occurred_at DESC, id DESC) AS rank
              FROM %(table)s WHERE customer_id IN (SELECT value FROM json_each(%%s))) AS ranked
        WHERE rank <= %%s GROUP BY customer_id""",
}
#: Decimal places of ``Event.value``: SQLite hands back 12.5 for 12.50.
_CENTS = Decimal(1).scaleb(-Event._meta.get_field("value").decimal_places)


def _event(item: list) -> dict[str, Any]:
    """One event as templates see it, from its ``[rank, name, properties, value,
    currency, occurred_at]``: the decimal and the aware time restored."""
    _, name, properties, value, currency, occurred_at = item
    occurred_at = datetime.fromisoformat(occurred_at)
    return {
        "name": name,
        "properties": properties,
        "value": None if value is None else Decimal(value).quantize(_CENTS),
        "currency": currency,
        # SQLite keeps naive UTC; PostgreSQL writes the offset.
        "occurred_at": occurred_at if occurred_at.tzinfo else occurred_at.replace(tzinfo=UTC),
    }


def recent_events(customer_ids: Sequence[int], *, limit: int = RECENT_EVENTS) -> dict[int, list]:
    """Each customer's ``limit`` newest events, newest first, in one query."""
    if not customer_ids:
        return {}
    sql = _RECENT_SQL[connection.vendor] % {
        "table": connection.ops.quote_name(Event._meta.db_table)
    }
    ids = list(customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(
            sql, [int_array(ids) if connection.vendor == "postgresql" else orjson.dumps(ids), limit]
        )
        rows = cursor.fetchall()
    events: dict[int, list] = {}
    for customer_id, items in rows:
        ranked = sorted(orjson.loads(items), key=itemgetter(0))
        events[customer_id] = [_event(item) for item in ranked]
    return events


def context_of(
    customer: dict[str, Any], events: list, *, message_key: str, variant_key: str
) -> dict[str, Any]:
    """One customer's context from their ``customer`` dict (:func:`customer_context`)
    and ``recent_events``, without the per-email URLs (the caller adds
    ``unsubscribe_url`` and ``preferences_url``)."""
    return {
        "customer": customer,
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
            customer_dict(customer),
            events.get(customer.pk, []),
            message_key=message_key,
            variant_key=variant_key,
        )
        for customer in customers
    }
