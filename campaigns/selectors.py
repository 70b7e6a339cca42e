"""Reads of the campaigns app that other apps need."""

from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from django.db.models import Count, QuerySet

from campaigns.message_format import MessageSpec, VariantSpec
from campaigns.models import Delivery, Message

#: Deliveries that count towards a frequency cap: everything that was or may be sent.
COUNTED_STATUSES = (
    Delivery.Status.QUEUED,
    Delivery.Status.SENDING,
    Delivery.Status.SENT,
    Delivery.Status.DELIVERED,
    Delivery.Status.BOUNCED,
    Delivery.Status.UNKNOWN,
)


def send_times(
    customer_ids: Iterable[int] | None,
    *,
    since: datetime,
    until: datetime | None = None,
    exclude_journey: str = "",
) -> dict[int, list[datetime]]:
    """Customer id -> queue times of their marketing emails in [since, until),
    oldest first: what frequency caps count. ``customer_ids=None`` means everyone;
    ``exclude_journey`` leaves one journey's emails out (a simulated new version
    of a journey replaces the live one)."""
    times: dict[int, list[datetime]] = defaultdict(list)
    deliveries = Delivery.objects.filter(queued_at__gte=since, status__in=COUNTED_STATUSES)
    if customer_ids is not None:
        deliveries = deliveries.filter(customer_id__in=list(customer_ids))
    if until is not None:
        deliveries = deliveries.filter(queued_at__lt=until)
    if exclude_journey:
        deliveries = deliveries.exclude(journey_key=exclude_journey)
    rows = deliveries.order_by("queued_at").values_list("customer_id", "queued_at").iterator()
    for customer_id, queued_at in rows:
        times[customer_id].append(queued_at)
    return times


def message_keys() -> set[str]:
    """Keys of messages that can be sent: they have at least one variant."""
    return set(Message.objects.filter(variants__isnull=False).values_list("key", flat=True))


def message_spec(key: str) -> MessageSpec | None:
    """A stored message as a message file describes it (``message_toml`` writes it)."""
    message = Message.objects.select_related("topic").prefetch_related("variants")
    message = message.filter(key=key).first()
    if message is None:
        return None
    return MessageSpec(
        key=message.key,
        name=message.name,
        topic=message.topic.key,
        sender=message.sender,
        reply_to=message.reply_to,
        variants=tuple(
            VariantSpec(v.key, v.weight, v.subject, v.preheader, v.html_body, v.text_body)
            for v in message.variants.all()
        ),
    )


def variants_sent(message_keys: Iterable[str]) -> dict[str, dict[str, int]]:
    """Message key -> variant key -> emails queued with it, for those messages:
    a variant with emails cannot be deleted (they, their clicks and their A/B
    results refer to it)."""
    found: dict[str, dict[str, int]] = defaultdict(dict)
    rows = (
        Delivery.objects.filter(message__key__in=list(message_keys))
        .order_by()
        .values_list("message__key", "variant__key")
        .annotate(n=Count("pk"))
    )
    for message_key, variant_key, n in rows:
        found[message_key][variant_key] = n
    return found


def email_counts() -> QuerySet:
    """Per customer: emails sent and not bounced, and how many of them a person
    opened and clicked (``opened_at`` and ``clicked_at`` are never set by
    machines). The ladder's open and click rates read this
    (``customers.lifecycle.mail``)."""
    return (
        Delivery.objects.filter(sent_at__isnull=False, bounced_at__isnull=True)
        .order_by()
        .values("customer_id")
        .annotate(sent=Count("pk"), opened=Count("opened_at"), clicked=Count("clicked_at"))
    )
