"""Conversion attribution: credit a journey's goal event to the email that led to it.

The rule is **last touch**: a goal event is credited to the customer's most
recent email that

- came from a journey whose goal the event is,
- was handed to the provider (``sent_at``) strictly before the event occurred,
  and did not bounce,
- and was sent no longer before the event than that journey's attribution
  window (``attribution_window``, default five days): ``sent_at < occurred_at
  <= sent_at + window``.

Ties on the send time go to the later row. The email nearest the decision gets
the credit because an A/B comparison needs each conversion in exactly one arm,
and the last email is the one whose subject, content and timing the customer
acted on; first touch would credit the welcome email with every later purchase.

Attribution runs where the engine routes events, on the same batch, so it costs
two queries per batch (one read of candidate deliveries, one insert) and runs
wherever routing runs: in-process on the embedded default, in the worker with a
broker. ``Conversion.event`` is unique, so routing an event twice, or two
journeys whose goal it is, never credit it twice.
"""

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import NamedTuple

from campaigns.models import Conversion, Delivery
from config.db import bulk_insert

#: Conversion columns, in the order ``conversions_attribute`` builds its rows.
CONVERSION_COLUMNS = (
    "event",
    "delivery",
    "variant",
    "journey_key",
    "journey_version",
    "step_key",
    "enrollment_id",
    "branches",
    "value",
    "currency",
    "occurred_at",
    "credited_at",
)


@dataclass(frozen=True)
class GoalEvent:
    """A routed event that is the goal of at least one journey."""

    event_id: int
    customer_id: int
    occurred_at: datetime
    value: Decimal | None
    currency: str
    #: Journey key -> its attribution window, for every journey whose goal this is.
    windows: Mapping[str, timedelta]


class _Touch(NamedTuple):
    """A delivery that may be credited, with what its conversion row copies."""

    sent_at: datetime
    delivery_id: int
    journey_key: str
    variant_id: int
    journey_version: int | None
    step_key: str
    enrollment_id: int | None
    branches: dict[str, str] | None


def _last_touch(event: GoalEvent, touches: list[_Touch]) -> _Touch | None:
    """The latest delivery (ties: the later row) whose journey's window covers the event."""
    qualifying = [
        touch
        for touch in touches
        if touch.journey_key in event.windows
        and touch.sent_at < event.occurred_at <= touch.sent_at + event.windows[touch.journey_key]
    ]
    return max(qualifying, key=lambda touch: (touch.sent_at, touch.delivery_id), default=None)


def conversions_attribute(*, events: Sequence[GoalEvent], at: datetime) -> int:
    """Credit each goal event to its last-touch delivery; returns how many were credited.

    Two statements whatever the batch size; an event already credited (routed
    twice) is skipped by the insert.
    """
    events = [event for event in events if event.windows]
    if not events:
        return 0
    longest = max(window for event in events for window in event.windows.values())
    touches: dict[int, list[_Touch]] = defaultdict(list)
    rows = Delivery.objects.filter(
        customer_id__in={event.customer_id for event in events},
        journey_key__in={key for event in events for key in event.windows},
        sent_at__gte=min(event.occurred_at for event in events) - longest,
        sent_at__lt=max(event.occurred_at for event in events),
        bounced_at__isnull=True,
    ).values_list(
        "customer_id",
        "sent_at",
        "id",
        "journey_key",
        "variant_id",
        "journey_version",
        "step_key",
        "enrollment_id",
        "branches",
    )
    for customer_id, *touch in rows:
        touches[customer_id].append(_Touch(*touch))

    conversions = []
    for event in events:
        touch = _last_touch(event, touches[event.customer_id])
        if touch is not None:
            conversions.append(
                (
                    event.event_id,
                    touch.delivery_id,
                    touch.variant_id,
                    touch.journey_key,
                    touch.journey_version,
                    touch.step_key,
                    touch.enrollment_id,
                    touch.branches,
                    event.value,
                    event.currency,
                    event.occurred_at,
                    at,
                )
            )
    return bulk_insert(Conversion, CONVERSION_COLUMNS, conversions)
