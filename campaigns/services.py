"""Writes of the campaigns app. ``deliveries_queue`` is the one call journeys make."""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F

from campaigns.message_format import MessageInvalid, MessageSpec, message_reference_errors
from campaigns.models import Delivery, Message, Variant
from campaigns.selectors import variants_sent
from config.db import bulk_insert
from customers.bucketing import pick
from customers.models import Topic


@dataclass(frozen=True)
class DeliveryRequest:
    """A send step's wish: this message to this customer, once for this step visit."""

    customer_id: int
    message_key: str
    enrollment_id: int | None = None
    journey_key: str = ""
    journey_version: int | None = None
    step_key: str = ""
    visit: int = 0
    #: The branch the enrollment has taken at each split so far (experiment key
    #: -> branch), stored on the row so a split's report needs no join.
    branches: Mapping[str, str] = field(default_factory=dict)


#: Outbox columns, in the order ``deliveries_queue`` builds its rows.
DELIVERY_COLUMNS = (
    "customer",
    "message",
    "variant",
    "status",
    "journey_key",
    "journey_version",
    "enrollment_id",
    "step_key",
    "visit",
    "branches",
    "queued_at",
    "updated_at",
)


@transaction.atomic
def deliveries_queue(*, requests: Sequence[DeliveryRequest], at: datetime) -> int:
    """Write outbox rows, each with its variant picked deterministically; returns
    how many were written.

    A request for a step visit that already has a row is skipped (the unique
    constraint), so a repeated advance can never queue a second email.
    """
    keys = {r.message_key for r in requests}
    messages = {m.key: m for m in Message.objects.filter(key__in=keys).prefetch_related("variants")}
    variants = {
        key: (
            [(v.key, v.weight) for v in m.variants.all()],
            {v.key: v.pk for v in m.variants.all()},
        )
        for key, m in messages.items()
    }
    rows = []
    for request in requests:
        message = messages[request.message_key]
        weights, ids = variants[request.message_key]
        choice = pick(message.experiment_key, request.customer_id, weights)
        rows.append(
            (
                request.customer_id,
                message.pk,
                ids[choice],
                Delivery.Status.QUEUED,
                request.journey_key,
                request.journey_version,
                request.enrollment_id,
                request.step_key,
                request.visit,
                dict(request.branches),
                at,
                at,
            )
        )
    return bulk_insert(Delivery, DELIVERY_COLUMNS, rows)


def deliveries_resolve_unknown(*, ids: Sequence[int], sent: bool, at: datetime) -> int:
    """A person's decision about UNKNOWN deliveries (after checking the provider's
    log): ``sent=True`` records them as sent, ``sent=False`` queues them again.
    Only UNKNOWN rows change; returns how many did."""
    unknown = Delivery.objects.filter(pk__in=list(ids), status=Delivery.Status.UNKNOWN)
    if sent:
        return unknown.update(
            status=Delivery.Status.SENT, sent_at=F("handed_at"), error="", updated_at=at
        )
    return unknown.update(
        status=Delivery.Status.QUEUED,
        next_attempt_at=None,
        lease_until=None,
        error="queued again by hand after it was unknown",
        updated_at=at,
    )


@dataclass(frozen=True)
class MessageSaved:
    message: Message
    created: bool
    #: The message's own fields changed (name, topic, sender, reply-to).
    changed: bool
    #: Variant keys created, updated (something changed) and deleted.
    variants_created: tuple[str, ...]
    variants_updated: tuple[str, ...]
    variants_deleted: tuple[str, ...]

    @property
    def unchanged(self) -> bool:
        return not (
            self.created
            or self.changed
            or self.variants_created
            or self.variants_updated
            or self.variants_deleted
        )


#: Variant fields a message file sets (the same names on the model and the spec).
VARIANT_FIELDS = ("weight", "subject", "preheader", "html_body", "text_body")


@transaction.atomic
def messages_save(*, specs: Sequence[MessageSpec], at: datetime) -> list[MessageSaved]:
    """Create or update messages and their variants from checked message files.

    A message is matched by its key, a variant by its key within the message;
    a variant the file no longer has is deleted, unless emails were sent with
    it (``MessageInvalid``: the file must keep it, with weight 0 to stop it).
    The checks that need the database run here, before the first write, so an
    invalid file stores nothing, and neither does any other file of the call.
    """
    topics = {t.key: t for t in Topic.objects.all()}
    sent = variants_sent(spec.key for spec in specs)
    problems = [
        f"{spec.key}: {problem}"
        for spec in specs
        for problem in message_reference_errors(spec, topics=set(topics), sent_variants=sent)
    ]
    if problems:
        raise MessageInvalid(problems)
    existing = {
        m.key: m
        for m in Message.objects.select_for_update()
        .filter(key__in=[s.key for s in specs])
        .prefetch_related("variants")
    }
    return [_message_save(spec, existing.get(spec.key), topics[spec.topic], at) for spec in specs]


def _message_save(
    spec: MessageSpec, message: Message | None, topic: Topic, at: datetime
) -> MessageSaved:
    created = message is None
    stored = {} if message is None else {v.key: v for v in message.variants.all()}
    message = message or Message(key=spec.key, created_at=at)
    fields = {"name": spec.name, "topic_id": topic.pk, "sender": spec.sender}
    fields["reply_to"] = spec.reply_to
    changed = any(getattr(message, name) != value for name, value in fields.items())
    if created or changed:
        for name, value in fields.items():
            setattr(message, name, value)
        message.updated_at = at
        message.save()
    made, updated = [], []
    for variant_spec in spec.variants:
        values = {name: getattr(variant_spec, name) for name in VARIANT_FIELDS}
        variant = stored.pop(variant_spec.key, None)
        if variant is None:
            Variant.objects.create(message=message, key=variant_spec.key, **values)
            made.append(variant_spec.key)
        elif any(getattr(variant, name) != value for name, value in values.items()):
            for name, value in values.items():
                setattr(variant, name, value)
            variant.save(update_fields=list(values))
            updated.append(variant_spec.key)
    # Left over: variants the file dropped; message_reference_errors made sure none was sent.
    Variant.objects.filter(pk__in=[v.pk for v in stored.values()]).delete()
    return MessageSaved(
        message,
        created,
        changed and not created,
        tuple(made),
        tuple(updated),
        tuple(sorted(stored)),
    )
