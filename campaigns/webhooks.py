"""Provider webhooks: what the email provider reports back about each delivery.

anymail normalizes every provider's webhooks into ``anymail.signals.tracking``
(delivered, bounced, opened …) and ``anymail.signals.inbound`` (mail received);
the receivers at the bottom are adapters over the functions above them. One
event is applied in one transaction: the ``ProviderEvent`` row that makes a
replay a no-op, the delivery's columns, the suppression, the consent change
and the customer event commit together, or none of them do and the provider
retries.

Rules (docs/webhooks.md has them for operators):

- **Which delivery.** ``metadata["delivery_id"]`` (dispatch sends it with
  every message), else the provider's message id. A delivery_id that is not a
  plain positive integer is ignored. Events for deliveries Ladder does not know
  (or whose customer was erased) are stored as seen, logged and dropped: the
  provider gets its 200, or it would retry forever.
- **Once.** ``ProviderEvent`` is unique per provider and event id; a provider
  without event ids gets one derived from what identifies the event.
- **Order.** Status moves only forward through ``TRANSITIONS``: a late
  ``delivered`` never undoes a ``bounced``. A status event becomes a customer
  event only when it moved the status, so a customer has one
  ``email_delivered`` or ``email_bounced`` per delivery, never both in the
  wrong order. An UNKNOWN delivery (worker died mid-send) that gets a
  delivered or bounced webhook is thereby resolved.
- **Suppression** follows the address, not the delivery's status: a hard
  bounce reported after a soft one still suppresses. Soft bounces (deferrals,
  bounces the provider will retry or calls soft) never do.
- **Opens and clicks do not double count.** Ladder's own pixel and click
  redirect are in every email and own the delivery's open and click columns
  (``open_count``, ``DeliveryClick``, ``clicked_at`` …): those are judged by
  the machine heuristics of ``campaigns.tracking``, which a provider's report
  cannot join (a click burst needs the click log). A provider's open or click
  therefore only becomes the customer event, under the same idempotency key
  Ladder's own tracking uses (``delivery:<id>:open``,
  ``delivery:<id>:click:<link>``), so whichever of the two reports first
  records the one ``email_opened`` per delivery and the one ``email_clicked``
  per link; the other is a duplicate. Machine flags use the same time rules.
  A click on a URL Ladder did not register (Ladder's tracking was off for
  that link) has no Ladder twin and is keyed by the provider's event.
"""

import hashlib
import logging
import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from functools import wraps
from typing import Any
from urllib.parse import urlsplit

from anymail.signals import (
    AnymailInboundEvent,
    AnymailTrackingEvent,
    EventType,
    RejectReason,
)
from anymail.urls import urlpatterns as anymail_urlpatterns
from anymail.utils import get_anymail_setting
from django.conf import settings
from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Coalesce
from django.http import HttpRequest, HttpResponse, HttpResponseNotFound
from django.urls import URLPattern, resolve
from django.urls.exceptions import Resolver404

from campaigns.models import Delivery, ProviderEvent, VariantLink
from campaigns.tokens import Purpose, TokenInvalid, token_read

# The mailto: half of List-Unsubscribe is built with the other links
# (campaigns.tokens.list_unsubscribe_headers); re-exported here, next to the
# inbound receiver that reads its token back.
from campaigns.tokens import unsubscribe_mailto as unsubscribe_mailto
from campaigns.tracking import (
    CLICK_SCANNER_SECONDS,
    CLICKED,
    OPEN_PREFETCH_SECONDS,
    OPENED,
    Visitor,
    deliveries_tracked,
    delivery_for_tracking,
    delivery_unsubscribe,
)
from config import clock
from config.db import bulk_insert
from customers.models import ConsentSource, ConsentStatus, SuppressionReason
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.events import EventInput, events_record
from customers.services.suppression import suppression_add
from customers.validation import normalize_email

logger = logging.getLogger(__name__)

#: Customer events of what the provider reports (opens, clicks and
#: unsubscribes use the names of campaigns.tracking).
DELIVERED, BOUNCED, COMPLAINED = "email_delivered", "email_bounced", "email_complained"

Status = Delivery.Status

#: anymail event -> (status it sets, statuses it may replace). Nothing else ever
#: moves the status, which is what makes late and reordered webhooks harmless.
TRANSITIONS: dict[str, tuple[Delivery.Status, frozenset[Delivery.Status]]] = {
    EventType.DELIVERED: (
        Status.DELIVERED,
        frozenset({Status.SENDING, Status.SENT, Status.UNKNOWN}),
    ),
    # A bounce can follow "delivered": some servers accept, then send a bounce back.
    EventType.BOUNCED: (
        Status.BOUNCED,
        frozenset({Status.SENDING, Status.SENT, Status.UNKNOWN, Status.DELIVERED}),
    ),
    # The provider refused to send it at all (known-bad address, its own suppression list).
    EventType.REJECTED: (Status.FAILED, frozenset({Status.SENDING, Status.SENT, Status.UNKNOWN})),
}

#: reject_reason of a bounce -> the suppression it calls for; any other reason
#: (timed out, blocked, other, none) is a soft bounce and suppresses nothing.
BOUNCE_SUPPRESSION = {
    RejectReason.BOUNCED: SuppressionReason.HARD_BOUNCE,
    RejectReason.INVALID: SuppressionReason.INVALID,
}
#: reject_reason of a rejection -> suppression. "spam": the provider refuses
#: the address because its owner complained before.
REJECT_SUPPRESSION = {
    **BOUNCE_SUPPRESSION,
    RejectReason.SPAM: SuppressionReason.COMPLAINT,
}
#: Providers whose soft and hard bounces anymail normalizes alike: provider ->
#: (fields of the raw event to look at, raw value -> suppression or None for soft).
RAW_BOUNCE_KINDS: dict[str, tuple[tuple[str, ...], dict[str, SuppressionReason | None]]] = {
    # Postmark: "Type" on bounce records, "SuppressionReason" on subscription changes.
    "postmark": (
        ("Type", "SuppressionReason"),
        {"HardBounce": SuppressionReason.HARD_BOUNCE, "SoftBounce": None},
    ),
    "brevo": (
        ("event",),
        {
            "hard_bounce": SuppressionReason.HARD_BOUNCE,
            "soft_bounce": None,
            "invalid_email": SuppressionReason.INVALID,
        },
    ),
    "mandrill": (("event",), {"hard_bounce": SuppressionReason.HARD_BOUNCE, "soft_bounce": None}),
}

#: Proof texts of consent withdrawn on a provider's word or by mail.
COMPLAINT_WORDING = "Spam complaint reported by {provider}"
UNSUBSCRIBE_WORDING = "Unsubscribe reported by {provider}"
MAILTO_WORDING = "Unsubscribe by email (List-Unsubscribe mailto)"
#: No person's browser is involved in any of these.
NO_VISITOR = Visitor(ip_address=None, user_agent="")

#: A metadata delivery_id: a plain positive integer that fits a bigint.
_DELIVERY_ID = re.compile(r"[1-9][0-9]{0,17}")
#: The token of an unsubscribe mailto subject (base64url payload ":" signature).
_MAILTO_SUBJECT = re.compile(r"unsubscribe-([A-Za-z0-9_-]+:[A-Za-z0-9_-]+)")
#: Longer event ids are hashed: the idempotency key must stay within 128 characters.
_MAX_EVENT_ID = 64


class Outcome(StrEnum):
    APPLIED = "applied"
    #: The event id was seen before.
    DUPLICATE = "duplicate"
    #: No delivery matches (another sender on the same account, or erased).
    UNKNOWN_DELIVERY = "unknown_delivery"
    #: An event Ladder takes no action on (queued, deferred, autoresponder …).
    IGNORED = "ignored"


@dataclass(frozen=True)
class Report:
    """One tracking event about one known delivery."""

    provider: str
    event_id: str
    event: AnymailTrackingEvent
    delivery: Delivery
    at: datetime


# --- Identifying the event and the delivery ---------------------------------------


def provider_key(esp_name: str) -> str:
    """anymail's provider name as Ladder stores it: "Amazon SES" -> "amazon_ses"."""
    return re.sub(r"[^a-z0-9]+", "_", esp_name.lower()).strip("_")[:40]


def _digest(*parts: Any) -> str:
    text = "\x1f".join("" if part is None else str(part) for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def event_id_for(provider: str, event: AnymailTrackingEvent | AnymailInboundEvent) -> str:
    """The provider's event id, or one derived from what identifies the event
    (Postmark gives ids to bounces only). The same payload posted again derives
    the same id; two clicks on two links at one instant do not."""
    if event.event_id:
        event_id = str(event.event_id)
        return event_id if len(event_id) <= _MAX_EVENT_ID else f"sha256:{_digest(event_id)[:56]}"
    timestamp = event.timestamp.isoformat() if event.timestamp else None
    return (
        "derived:"
        + _digest(
            provider,
            event.event_type,
            getattr(event, "message_id", None),
            getattr(event, "recipient", None),
            timestamp,
            getattr(event, "click_url", None),
        )[:56]
    )


def provider_event_claim(*, provider: str, event_id: str) -> bool:
    """Store the event as seen; False when it already was. A concurrent request
    with the same event waits on the unique index and then gets False."""
    return (
        bulk_insert(
            ProviderEvent,
            ("provider", "event_id", "received_at"),
            [(provider, event_id, clock.now())],
        )
        == 1
    )


def _metadata_delivery_id(metadata: Any) -> int | None:
    value = metadata.get("delivery_id") if isinstance(metadata, dict) else None
    if type(value) is int and value > 0:
        return value
    if isinstance(value, str) and _DELIVERY_ID.fullmatch(value):
        return int(value)
    return None


def delivery_for_event(event: AnymailTrackingEvent) -> Delivery | None:
    """The delivery an event is about, with what the handlers need, or None."""
    delivery_id = _metadata_delivery_id(event.metadata)
    if delivery_id is not None:
        delivery = delivery_for_tracking(delivery_id)
        if delivery is not None:
            return delivery
    if event.message_id:
        # Indexed but not unique: should two deliveries share one, the first.
        return deliveries_tracked().filter(provider_message_id=str(event.message_id)).first()
    return None


# --- What each event does ------------------------------------------------------------


def _customer_event(report: Report, name: str, key: str, **properties: Any) -> EventInput:
    delivery = report.delivery
    return EventInput(
        name=name,
        occurred_at=report.at,
        customer_id=delivery.customer_id,
        properties={
            "delivery_id": delivery.pk,
            "message": delivery.message.key,
            "variant": delivery.variant.key,
            "provider": report.provider,
            **properties,
        },
        idempotency_key=key,
    )


def _webhook_key(report: Report) -> str:
    return f"webhook:{report.provider}:{report.event_id}"


def _move(report: Report, **columns: Any) -> bool:
    """Apply the event's status transition with ``columns``; False when the
    delivery's status does not allow it (already bounced, never sent …).
    One conditional UPDATE, so two webhooks for one delivery cannot both win."""
    status, allowed = TRANSITIONS[report.event.event_type]
    return (
        Delivery.objects.filter(pk=report.delivery.pk, status__in=allowed).update(
            status=status, updated_at=clock.now(), **columns
        )
        == 1
    )


def _suppress(report: Report, reason: SuppressionReason) -> None:
    """Suppress the address the provider reports on: the one the email went to,
    which may no longer be the customer's (then their new one stays sendable)."""
    address = report.delivery.customer.email
    if report.event.recipient:
        # An address that does not parse: fall back to the customer's.
        with suppress(ValueError):
            address = normalize_email(report.event.recipient)
    if address:
        suppression_add(
            email=address, reason=reason, note=f"{report.provider} webhook {report.event_id}"
        )


def _error(report: Report, label: str) -> str:
    event = report.event
    detail = event.description or event.mta_response or event.reject_reason or "no reason given"
    return f"{label} reported by {report.provider}: {detail}"


def _delivered(report: Report) -> None:
    if _move(report, delivered_at=Coalesce(F("delivered_at"), Value(report.at))):
        events_record(events=[_customer_event(report, DELIVERED, _webhook_key(report))])


def _bounce_suppression(report: Report) -> SuppressionReason | None:
    fields, kinds = RAW_BOUNCE_KINDS.get(report.provider, ((), {}))
    raw = report.event.esp_event
    if isinstance(raw, dict):
        for field in fields:
            value = raw.get(field)
            if isinstance(value, str) and value in kinds:
                return kinds[value]
    return BOUNCE_SUPPRESSION.get(report.event.reject_reason)


def _bounced(report: Report) -> None:
    suppression = _bounce_suppression(report)
    if suppression is not None:
        _suppress(report, suppression)
    label = "Hard bounce" if suppression else "Soft bounce"
    if _move(
        report,
        bounced_at=Coalesce(F("bounced_at"), Value(report.at)),
        error=_error(report, label),
    ):
        properties = {"hard": suppression is not None, "reason": report.event.reject_reason or ""}
        events_record(events=[_customer_event(report, BOUNCED, _webhook_key(report), **properties)])


def _rejected(report: Report) -> None:
    suppression = REJECT_SUPPRESSION.get(report.event.reject_reason)
    if suppression is not None:
        _suppress(report, suppression)
    if _move(report, error=_error(report, "Rejected")):
        properties = {
            "hard": suppression is not None,
            "reason": report.event.reject_reason or "",
            "rejected": True,
        }
        events_record(events=[_customer_event(report, BOUNCED, _webhook_key(report), **properties)])


def _complained(report: Report) -> None:
    """Suppress the address and withdraw the topic's consent with the complaint
    as proof. Not an unsubscribe of the delivery: complaint and unsubscribe
    rates are different numbers."""
    delivery = report.delivery
    _suppress(report, SuppressionReason.COMPLAINT)
    proof = ConsentProof(
        source=ConsentSource.UNSUBSCRIBE,
        actor="customer",
        text=COMPLAINT_WORDING.format(provider=report.provider),
    )
    # consents_record skips a withdrawal that is already the current status.
    consents_record(
        changes=[
            ConsentChange(delivery.customer, delivery.message.topic, ConsentStatus.WITHDRAWN, proof)
        ],
        at=report.at,
    )
    first = Delivery.objects.filter(pk=delivery.pk, complained_at__isnull=True).update(
        complained_at=report.at
    )
    if first:
        events_record(events=[_customer_event(report, COMPLAINED, _webhook_key(report))])


def _too_soon(report: Report, seconds: int) -> bool:
    sent_at = report.delivery.sent_at
    return sent_at is not None and report.at - sent_at < timedelta(seconds=seconds)


def _opened(report: Report) -> None:
    machine = _too_soon(report, OPEN_PREFETCH_SECONDS)
    # Ladder's own key (campaigns.tracking): one email_opened per delivery, whoever saw it first.
    key = f"delivery:{report.delivery.pk}:open" + (":machine" if machine else "")
    events_record(events=[_customer_event(report, OPENED, key, machine=machine)])


def _ladder_link(report: Report, url: str) -> VariantLink | None:
    """The registered link behind one of Ladder's own click URLs for this delivery
    (a provider that tracks clicks too reports Ladder's redirect as the URL)."""
    site = settings.LADDER_SITE_URL
    if not url.startswith(site + "/"):
        return None
    try:
        match = resolve(urlsplit(url[len(site) :]).path)
    except Resolver404:
        return None
    if match.view_name != "tracking:click":
        return None
    try:
        (delivery_id,) = token_read(Purpose.CLICK, match.kwargs["token"])
    except TokenInvalid:
        return None
    if delivery_id != report.delivery.pk:
        return None
    link_id = match.kwargs["link_id"]
    return VariantLink.objects.filter(pk=link_id, variant_id=report.delivery.variant_id).first()


def _clicked(report: Report) -> None:
    url = report.event.click_url or ""
    machine = _too_soon(report, CLICK_SCANNER_SECONDS)
    link = _ladder_link(report, url) if url else None
    if link is not None:
        url = link.url
        key = f"delivery:{report.delivery.pk}:click:{link.pk}" + (":machine" if machine else "")
    else:
        key = _webhook_key(report)
    events_record(events=[_customer_event(report, CLICKED, key, url=url, machine=machine)])


def _unsubscribed(report: Report) -> None:
    # The same as the email's own one-click link: the topic, once.
    delivery_unsubscribe(
        delivery=report.delivery,
        everything=False,
        visitor=NO_VISITOR,
        how=UNSUBSCRIBE_WORDING.format(provider=report.provider),
        at=report.at,
    )


#: anymail's normalized event -> what it does. Anything else (queued, sent,
#: deferred, failed, autoresponded, subscribed, unknown) is stored as seen and
#: otherwise ignored: a deferral is not a bounce, and a provider never grants
#: consent.
HANDLERS: dict[str, Callable[[Report], None]] = {
    EventType.DELIVERED: _delivered,
    EventType.BOUNCED: _bounced,
    EventType.REJECTED: _rejected,
    EventType.COMPLAINED: _complained,
    EventType.OPENED: _opened,
    EventType.CLICKED: _clicked,
    EventType.UNSUBSCRIBED: _unsubscribed,
}


@transaction.atomic
def tracking_event_apply(*, provider: str, event: AnymailTrackingEvent) -> Outcome:
    """Apply one normalized tracking event, once.

    Errors propagate and roll everything back, the seen-mark included, so
    the provider's retry (it retries on any non-2xx) can succeed once the
    database is back or the bug is fixed.
    """
    event_id = event_id_for(provider, event)
    if not provider_event_claim(provider=provider, event_id=event_id):
        return Outcome.DUPLICATE
    handler = HANDLERS.get(event.event_type)
    if handler is None:
        return Outcome.IGNORED
    delivery = delivery_for_event(event)
    if delivery is None:
        logger.warning(
            "%s %s webhook %s names no delivery Ladder knows (metadata %r, message id %r); ignored",
            provider,
            event.event_type,
            event_id,
            event.metadata,
            event.message_id,
        )
        return Outcome.UNKNOWN_DELIVERY
    at = event.timestamp or clock.now()
    handler(Report(provider=provider, event_id=event_id, event=event, delivery=delivery, at=at))
    return Outcome.APPLIED


# --- Inbound mail: the List-Unsubscribe mailbox ---------------------------------------


@transaction.atomic
def inbound_unsubscribe_apply(*, provider: str, event: AnymailInboundEvent) -> Outcome:
    """Unsubscribe the delivery whose token is in the subject of a mail sent to
    the List-Unsubscribe mailbox, as its one-click link would. Any other mail,
    or a token that does not verify, changes nothing."""
    subject = (event.message.subject if event.message is not None else None) or ""
    found = _MAILTO_SUBJECT.search(subject)
    if found is None:
        return Outcome.IGNORED
    try:
        (delivery_id,) = token_read(Purpose.UNSUBSCRIBE, found.group(1))
    except TokenInvalid:
        logger.warning("%s inbound mail with an invalid unsubscribe token; ignored", provider)
        return Outcome.IGNORED
    if not provider_event_claim(provider=provider, event_id=event_id_for(provider, event)):
        return Outcome.DUPLICATE
    delivery = delivery_for_tracking(delivery_id)
    if delivery is None:
        return Outcome.UNKNOWN_DELIVERY
    delivery_unsubscribe(
        delivery=delivery, everything=False, visitor=NO_VISITOR, how=MAILTO_WORDING
    )
    return Outcome.APPLIED


# --- Signal receivers (connected in CampaignsConfig.ready) ----------------------------


def tracking_received(
    sender: Any, event: AnymailTrackingEvent, esp_name: str, **kwargs: Any
) -> None:
    tracking_event_apply(provider=provider_key(esp_name), event=event)


def inbound_received(sender: Any, event: AnymailInboundEvent, esp_name: str, **kwargs: Any) -> None:
    inbound_unsubscribe_apply(provider=provider_key(esp_name), event=event)


# --- The webhook URLs: served only with a secret ---------------------------------------


def webhook_secrets() -> list[str]:
    """The ``user:password`` pairs anymail accepts, read the way anymail reads
    them (``ANYMAIL["WEBHOOK_SECRET"]``, a string or a list for rotation)."""
    secret = get_anymail_setting("webhook_secret", default=[])
    secrets = [secret] if isinstance(secret, str) else list(secret or [])
    return [s for s in secrets if isinstance(s, str) and s]


def secret_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Refuse a webhook with 404 while no secret is set. anymail itself only
    warns then and accepts anyone's posts; with a secret set, anymail checks
    the request's basic auth (a wrong or missing one gets 400)."""

    @wraps(view)  # keeps anymail's csrf_exempt
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not webhook_secrets():
            logger.error(
                "Refused a webhook at %s: set ANYMAIL_WEBHOOK_SECRET (docs/webhooks.md)",
                request.path,
            )
            return HttpResponseNotFound()
        return view(request, *args, **kwargs)

    return guarded


def anymail_urls() -> tuple[list[URLPattern], str]:
    """anymail's webhook URLs, each behind ``secret_required``, for ``include()``.

    Always routed, checked per request: URLs load once per process, and a
    setting read at import would be stale in tests and ignored by anyone who
    changes it without a restart.
    """
    patterns = [
        URLPattern(p.pattern, secret_required(p.callback), p.default_args, p.name)
        for p in anymail_urlpatterns
    ]
    return patterns, "anymail"
