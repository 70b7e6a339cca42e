"""What Python evaluation knows about one customer, and loading it for many
customers at once in a fixed number of queries.
"""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Q
from django.utils import timezone

from customers.models import Consent, Customer, Event
from customers.rules.language import FIELD_KINDS
from customers.rules.nodes import EventTest, Rule, rule_topics

#: Customer columns a rule can read; ``stage_changed_at`` serves "entered_within_days".
FACT_FIELDS = (*FIELD_KINDS, "stage_changed_at")


@dataclass(frozen=True)
class EventFact:
    """One event as rules see it. ``value`` is a Decimal amount or None."""

    name: str
    properties: dict[str, Any]
    value: Decimal | None
    occurred_at: datetime


@dataclass(frozen=True)
class CustomerFacts:
    """A snapshot of one customer for ``rule_matches``.

    ``facts_load`` builds these from the database; a simulation builds them by
    hand. ``values`` maps Customer field names (``FACT_FIELDS``) to values as
    the model holds them: a field left out reads as NULL. ``consents`` maps a
    topic key to its status; a topic left out is "none" (never asked).
    ``events`` need only hold the events the rules can see.
    """

    values: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, Any] = field(default_factory=dict)
    consents: dict[str, str] = field(default_factory=dict)
    events: tuple[EventFact, ...] = ()

    @classmethod
    def from_customer(
        cls,
        customer: Customer,
        *,
        consents: dict[str, str] | None = None,
        events: Iterable[EventFact] = (),
    ) -> "CustomerFacts":
        """Facts from a Customer instance already in memory, e.g. one being edited."""
        return cls(
            values={name: getattr(customer, name) for name in FACT_FIELDS},
            attributes=customer.attributes,
            consents=dict(consents or {}),
            events=tuple(events),
        )


def facts_load(
    customer_ids: Iterable[int], rules: Iterable[Rule], *, now: datetime
) -> dict[int, CustomerFacts]:
    """Facts for each customer id that exists, holding what ``rules`` need at ``now``.

    At most three queries however many customers: their rows; their consents
    for the topics the rules name; their events with the names the rules name,
    each name from the start of its widest window. Callers pass batches (the
    SQLite backend allows some 32,000 ids in one query).
    """
    if timezone.is_naive(now):
        raise ValueError("facts are loaded for an aware datetime")
    ids = list(customer_ids)
    rules = list(rules)
    rows = Customer.objects.filter(pk__in=ids).values("pk", "attributes", *FACT_FIELDS)

    consents: dict[int, dict[str, str]] = defaultdict(dict)
    topics = frozenset().union(*(rule_topics(rule) for rule in rules))
    if topics:
        for customer_id, topic, status in Consent.objects.filter(
            customer_id__in=ids, topic__key__in=topics
        ).values_list("customer_id", "topic__key", "status"):
            consents[customer_id][topic] = status

    events: dict[int, list[EventFact]] = defaultdict(list)
    wanted = _events_wanted(rules, now)
    if wanted is not None:
        for customer_id, name, properties, value, occurred_at in (
            Event.objects.filter(wanted, customer_id__in=ids)
            .order_by("occurred_at", "id")
            .values_list("customer_id", "name", "properties", "value", "occurred_at")
        ):
            events[customer_id].append(EventFact(name, properties, value, occurred_at))

    return {
        row["pk"]: CustomerFacts(
            values={name: row[name] for name in FACT_FIELDS},
            attributes=row["attributes"],
            consents=consents.get(row["pk"], {}),
            events=tuple(events.get(row["pk"], ())),
        )
        for row in rows
    }


def _events_wanted(rules: list[Rule], now: datetime) -> Q | None:
    """Events the rules can see: per name, from the start of its widest window.
    None when the rules look at no events."""
    widest: dict[str, int | None] = {}
    for rule in rules:
        for node in rule.walk():
            if isinstance(node, EventTest):
                if node.within_days is None or (node.name in widest and widest[node.name] is None):
                    widest[node.name] = None
                else:
                    widest[node.name] = max(widest.get(node.name) or 0, node.within_days)
    if not widest:
        return None
    by_window: dict[int | None, list[str]] = defaultdict(list)
    for name, days in widest.items():
        by_window[days].append(name)
    wanted = Q()
    for days, names in by_window.items():
        since = Q() if days is None else Q(occurred_at__gte=now - timedelta(days=days))
        wanted |= Q(name__in=sorted(names)) & since
    return wanted
