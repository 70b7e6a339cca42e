"""What comes back from an email: opens, clicks, unsubscribes and preference changes.

Each is recorded on the ``Delivery`` (for per-variant results) and as an event
on the customer (``email_opened``, ``email_clicked``, ``email_unsubscribed``)
with an idempotency key, so a reload, a retry or a second click of the same
link never counts twice. Consent changes go through ``consents_record`` with
the customer's IP and user agent as proof.

Machine activity is recorded, flagged ``machine: true``, and kept out of the
human counts. Security gateways (Microsoft Defender, Mimecast, Proofpoint …)
fetch every link of an incoming email within seconds of its arrival, often
all at once; mail privacy proxies (Apple Mail Privacy Protection) fetch the
images of every email when it arrives, whether or not anyone reads it. The
heuristics below catch the common cases; they cannot catch a prefetch that
comes hours later, so open rates stay an estimate.
"""

import hashlib
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from django.db import transaction
from django.db.models import Count, F, Min, QuerySet, Value
from django.db.models.functions import Coalesce

from campaigns.models import Delivery, DeliveryClick, VariantLink
from config import clock
from config.db import bulk_insert
from customers.models import (
    Consent,
    ConsentSource,
    ConsentStatus,
    Customer,
    Suppression,
    SuppressionReason,
    Topic,
)
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.events import EventInput, events_record
from customers.services.suppression import suppression_add, suppression_remove

#: An open this soon after sending is a prefetch: no person gets an email,
#: notices it and opens it in ten seconds, but Apple's privacy proxy and some
#: gateways fetch images as the message arrives.
OPEN_PREFETCH_SECONDS = 10
#: A click this soon after sending is a link scanner checking the message on
#: arrival. People rarely read and click within half a minute; when one does,
#: the click is undercounted, which skews results less than counting every
#: scanner would.
CLICK_SCANNER_SECONDS = 30
#: Clicks on two different links of one email this close together are a
#: scanner walking the links (a person needs longer to come back from the
#: first page); both clicks, and any between, are flagged.
CLICK_BURST_SECONDS = 2

#: Event names of what customers do with emails.
OPENED, CLICKED, UNSUBSCRIBED = "email_opened", "email_clicked", "email_unsubscribed"

#: Link schemes the click redirect may lead to; mailto:, tel: and anchors are
#: left untracked by the renderer.
LINK_SCHEMES = ("http", "https")

#: Proof text of a withdrawal, by how the customer asked for it.
UNSUBSCRIBE_WORDING = {
    "one_click": "List-Unsubscribe=One-Click (RFC 8058)",
    "topic": "Unsubscribe page: Unsubscribe",
    "all": "Unsubscribe page: Unsubscribe from everything",
    "preferences": "Preference centre: unticked",
}


@dataclass(frozen=True)
class Visitor:
    """Who followed a link, as far as the request tells: kept as consent proof."""

    ip_address: str | None
    user_agent: str


#: What the tracking endpoints, the unsubscribe page and provider webhooks
#: read of a delivery, its customer, message, topic and variant. Only these are
#: loaded: building and reading the whole rows of five tables cost more than
#: the rest of an open. The tests watch for a field read that is not here (it
#: would cost a query per request).
DELIVERY_FIELDS = (
    "sent_at",
    "customer__email",
    "customer__email_hash",
    "message__key",
    "message__topic__key",
    "message__topic__name",
    "variant__key",
)


def deliveries_tracked() -> QuerySet[Delivery]:
    """Deliveries of customers not erased, with ``DELIVERY_FIELDS``, in one query."""
    return (
        Delivery.objects.select_related("customer", "message__topic", "variant")
        .only(*DELIVERY_FIELDS)
        .filter(customer__erased_at__isnull=True)
    )


def delivery_for_tracking(delivery_id: int) -> Delivery | None:
    """The delivery a token names; None when it does not exist or its customer
    was erased."""
    return next(iter(deliveries_tracked().filter(pk=delivery_id)), None)


def link_for_click(*, delivery: Delivery, link_id: int) -> VariantLink | None:
    """The stored target of a click, only if it belongs to the delivery's variant."""
    return VariantLink.objects.filter(pk=link_id, variant_id=delivery.variant_id).first()


def customer_for_preferences(customer_id: int) -> Customer | None:
    """The customer a preference token names; None when gone or erased."""
    return Customer.objects.filter(pk=customer_id, erased_at__isnull=True).first()


def _url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def links_register(*, variant_id: int, urls: list[str]) -> list[int]:
    """The link index of each URL, in order, for ``click_url``; registering a URL
    again returns the same index.

    Call it once per variant and batch with the union of the URLs rendered for
    the batch: two queries, whatever the number of URLs. A URL is stored as the
    browser would follow it (HTML entities decoded). Concurrent callers are
    safe: the insert skips URLs another worker stored first.
    """
    for url in urls:
        parts = urlsplit(url)
        if parts.scheme.lower() not in LINK_SCHEMES or not parts.netloc:
            raise ValueError(f"not an absolute http(s) URL: {url!r}")
    hashes = [_url_hash(url) for url in urls]
    # In hash order: concurrent callers that store the same new URLs then wait
    # for each other instead of deadlocking.
    rows = sorted({h: (variant_id, h, url) for h, url in zip(hashes, urls, strict=True)}.values())
    bulk_insert(VariantLink, ("variant", "url_hash", "url"), rows)
    ids = dict(
        VariantLink.objects.filter(variant_id=variant_id, url_hash__in=hashes).values_list(
            "url_hash", "id"
        )
    )
    return [ids[h] for h in hashes]


def _too_soon(sent_at: datetime | None, at: datetime, seconds: int) -> bool:
    """Whether ``at`` is within ``seconds`` of sending; unknown send time never is."""
    return sent_at is not None and at - sent_at < timedelta(seconds=seconds)


def _event(delivery: Delivery, name: str, key: str, at: datetime, **properties: Any) -> EventInput:
    return EventInput(
        name=name,
        occurred_at=at,
        customer_id=delivery.customer_id,
        properties={
            "delivery_id": delivery.pk,
            "message": delivery.message.key,
            "variant": delivery.variant.key,
            **properties,
        },
        # "delivery:" keeps these apart from keys API clients choose.
        idempotency_key=f"delivery:{delivery.pk}:{key}",
    )


@transaction.atomic
def delivery_open_record(*, delivery: Delivery, at: datetime | None = None) -> bool:
    """Count an open of the pixel; returns whether it looked like a machine.

    Every human open adds to ``open_count``; only the first sets ``opened_at``
    and records ``email_opened``, so unique opens are counted once. A probable
    prefetch sets ``machine_opened_at`` and records its own flagged event.
    """
    at = at or clock.now()
    machine = _too_soon(delivery.sent_at, at, OPEN_PREFETCH_SECONDS)
    rows = Delivery.objects.filter(pk=delivery.pk)
    if machine:
        rows.update(machine_opened_at=Coalesce(F("machine_opened_at"), Value(at)))
    else:
        rows.update(opened_at=Coalesce(F("opened_at"), Value(at)), open_count=F("open_count") + 1)
    key = "open:machine" if machine else "open"
    events_record(events=[_event(delivery, OPENED, key, at, machine=machine)])
    return machine


@transaction.atomic
def delivery_click_record(
    *, delivery: Delivery, link: VariantLink, at: datetime | None = None
) -> bool:
    """Log a click on a stored link; returns whether it looked like a machine.

    The delivery row is locked first, so two clicks of one scanner burst are
    judged one after the other and the second sees the first. When a burst is
    found, earlier clicks in it are flagged too and the human counts on the
    delivery are recomputed. Their ``email_clicked`` event was already recorded
    as human and stays so (events are not rewritten).
    """
    at = at or clock.now()
    Delivery.objects.select_for_update().filter(pk=delivery.pk).values_list("pk").get()
    recent = list(
        DeliveryClick.objects.filter(
            delivery_id=delivery.pk, at__gte=at - timedelta(seconds=CLICK_BURST_SECONDS)
        ).values_list("pk", "link_id", "machine")
    )
    burst = any(link_id != link.pk for _, link_id, _ in recent)
    machine = burst or _too_soon(delivery.sent_at, at, CLICK_SCANNER_SECONDS)
    DeliveryClick.objects.create(delivery_id=delivery.pk, link=link, at=at, machine=machine)
    if burst:
        earlier = [pk for pk, _, flagged in recent if not flagged]
        DeliveryClick.objects.filter(pk__in=earlier).update(machine=True)
    human = DeliveryClick.objects.filter(delivery_id=delivery.pk, machine=False).aggregate(
        first=Min("at"), count=Count("pk")
    )
    Delivery.objects.filter(pk=delivery.pk).update(
        clicked_at=human["first"], click_count=human["count"]
    )
    key = f"click:{link.pk}:machine" if machine else f"click:{link.pk}"
    events_record(events=[_event(delivery, CLICKED, key, at, url=link.url, machine=machine)])
    return machine


def _withdrawals(
    customer: Customer, topics: Collection[Topic], proof: ConsentProof
) -> list[ConsentChange]:
    """Changes withdrawing ``topics`` that are not withdrawn already, so that a
    repeat records nothing (one query)."""
    withdrawn = set(
        Consent.objects.filter(
            customer=customer, topic__in=topics, status=ConsentStatus.WITHDRAWN
        ).values_list("topic_id", flat=True)
    )
    return [
        ConsentChange(customer, topic, ConsentStatus.WITHDRAWN, proof)
        for topic in topics
        if topic.pk not in withdrawn
    ]


def _consented_topics(customer: Customer) -> list[Topic]:
    """Topics the customer may be emailed on, or has asked to be."""
    return list(
        Topic.objects.filter(
            consents__customer=customer,
            consents__status__in=[ConsentStatus.GRANTED, ConsentStatus.PENDING],
        )
    )


@transaction.atomic
def delivery_unsubscribe(
    *,
    delivery: Delivery,
    everything: bool,
    visitor: Visitor,
    one_click: bool = False,
    how: str = "",
    at: datetime | None = None,
) -> None:
    """Withdraw consent for the email's topic, or for every topic and suppress
    the address; records ``email_unsubscribed`` and marks the delivery.

    ``how`` replaces the proof text when the request did not come through a
    link (a provider's report, a mail to the List-Unsubscribe mailbox).
    Repeating it changes nothing: consent already withdrawn is not recorded
    again, the suppression and the event exist once, the time stays the first.
    """
    at = at or clock.now()
    customer, topic = delivery.customer, delivery.message.topic
    scope = "all" if everything else "topic"
    proof = ConsentProof(
        source=ConsentSource.UNSUBSCRIBE,
        actor="customer",
        text=how or UNSUBSCRIBE_WORDING["one_click" if one_click else scope],
        ip_address=visitor.ip_address,
        user_agent=visitor.user_agent,
    )
    topics = {topic.pk: topic}
    if everything:
        topics.update((t.pk, t) for t in _consented_topics(customer))
    consents_record(changes=_withdrawals(customer, list(topics.values()), proof), at=at)
    if everything and customer.email:
        suppression_add(email=customer.email, reason=SuppressionReason.UNSUBSCRIBE_ALL)
    Delivery.objects.filter(pk=delivery.pk).update(
        unsubscribed_at=Coalesce(F("unsubscribed_at"), Value(at))
    )
    events_record(
        events=[
            _event(
                delivery,
                UNSUBSCRIBED,
                f"unsubscribe:{scope}",
                at,
                topic=topic.key,
                scope=scope,
                one_click=one_click,
            )
        ]
    )


def unsubscribe_state(delivery: Delivery) -> dict[str, bool]:
    """What the unsubscribe page shows: is the topic withdrawn, is the address
    suppressed on the customer's request."""
    customer = delivery.customer
    return {
        "topic_withdrawn": Consent.objects.filter(
            customer=customer, topic=delivery.message.topic, status=ConsentStatus.WITHDRAWN
        ).exists(),
        "unsubscribed_all": _unsubscribed_all(customer),
    }


def _unsubscribed_all(customer: Customer) -> bool:
    return bool(customer.email_hash) and (
        Suppression.objects.filter(
            address_hash=customer.email_hash, reason=SuppressionReason.UNSUBSCRIBE_ALL
        ).exists()
    )


def _preferences(customer: Customer) -> list[tuple[Topic, str]]:
    """Every topic with the customer's current status ("" when never asked)."""
    status = dict(customer.consents.values_list("topic_id", "status"))
    return [(topic, status.get(topic.pk, "")) for topic in Topic.objects.order_by("name")]


def _topic_wording(topic: Topic) -> str:
    """What the preference centre shows for a topic: the proof of a grant there."""
    return f"{topic.name}: {topic.description}" if topic.description else topic.name


@transaction.atomic
def preferences_update(
    *,
    customer: Customer,
    wanted: Collection[str],
    visitor: Visitor,
    at: datetime | None = None,
) -> int:
    """Grant the topics whose keys are in ``wanted``, withdraw the others the
    customer had granted or asked for; returns how many changed.

    A grant here is confirmed: the link reached the customer's mailbox. Grants
    are recorded as a form (with the wording shown), withdrawals as an
    unsubscribe. Granting anything lifts an earlier "unsubscribe from
    everything" (the customer's latest word wins), never a bounce or complaint.
    """
    at = at or clock.now()
    current = _preferences(customer)
    changes: list[ConsentChange] = []
    withdraw: list[Topic] = []
    for topic, status in current:
        if topic.key in wanted and status != ConsentStatus.GRANTED:
            proof = ConsentProof(
                source=ConsentSource.FORM,
                actor="customer",
                text=_topic_wording(topic),
                ip_address=visitor.ip_address,
                user_agent=visitor.user_agent,
            )
            changes.append(ConsentChange(customer, topic, ConsentStatus.GRANTED, proof))
        elif topic.key not in wanted and status in (ConsentStatus.GRANTED, ConsentStatus.PENDING):
            withdraw.append(topic)
    withdrawal = ConsentProof(
        source=ConsentSource.UNSUBSCRIBE,
        actor="customer",
        text=UNSUBSCRIBE_WORDING["preferences"],
        ip_address=visitor.ip_address,
        user_agent=visitor.user_agent,
    )
    changes.extend(
        ConsentChange(customer, topic, ConsentStatus.WITHDRAWN, withdrawal) for topic in withdraw
    )
    wants_email = any(topic.key in wanted for topic, _ in current)
    if wants_email and customer.email and _unsubscribed_all(customer):
        suppression_remove(email=customer.email)
    return consents_record(changes=changes, at=at)


def preferences_page(customer: Customer) -> dict[str, Any]:
    """Context of the preference centre: topics with status, and whether the
    customer unsubscribed from everything."""
    return {
        "topics": [
            {
                "topic": topic,
                "granted": status == ConsentStatus.GRANTED,
                "pending": status == ConsentStatus.PENDING,
            }
            for topic, status in _preferences(customer)
        ],
        "unsubscribed_all": _unsubscribed_all(customer),
    }
