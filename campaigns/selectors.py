"""Reads of the campaigns app that other apps need."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from campaigns.models import Delivery, Message

#: Deliveries that count towards a frequency cap: everything that was or may be sent.
COUNTED_STATUSES = (
    Delivery.Status.QUEUED,
    Delivery.Status.SENDING,
    Delivery.Status.SENT,
    Delivery.Status.UNKNOWN,
)


def recent_send_times(customer_ids: Iterable[int], *, since: datetime) -> dict[int, list[datetime]]:
    """Customer id -> queue times of their marketing emails since ``since``, oldest first."""
    times: dict[int, list[datetime]] = defaultdict(list)
    rows = (
        Delivery.objects.filter(
            customer_id__in=list(customer_ids), queued_at__gte=since, status__in=COUNTED_STATUSES
        )
        .order_by("queued_at")
        .values_list("customer_id", "queued_at")
    )
    for customer_id, queued_at in rows:
        times[customer_id].append(queued_at)
    return times


def message_keys() -> set[str]:
    """Keys of messages that can be sent: they have at least one variant."""
    return set(Message.objects.filter(variants__isnull=False).values_list("key", flat=True))
