"""Consent changes, each one recorded with its proof.

``consents_record`` is the one writer: it keeps the current ``Consent`` row and
appends a ``ConsentRecord`` in the same transaction, for one change or ten
thousand (the CSV import). Double opt-in adds a pending state, a signed link
sent by email, and ``consent_confirm``.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import partial

from django.conf import settings
from django.core import signing
from django.db import transaction

from config import clock
from customers.lifecycle.ladder import CONSENT_CHANGE
from customers.models import (
    Consent,
    ConsentRecord,
    ConsentSource,
    ConsentStatus,
    Customer,
    Topic,
)
from customers.services.lifecycle import lifecycle_activity_recorded

#: Salt of the double opt-in link signature; other links use other salts.
CONFIRM_SALT = "ladder.consent.confirm"


@dataclass(frozen=True)
class ConsentProof:
    """How a consent change reached us: kept forever in the consent history."""

    source: ConsentSource
    actor: str = ""
    text: str = ""
    text_version: str = ""
    ip_address: str | None = None
    user_agent: str = ""


@dataclass(frozen=True)
class ConsentChange:
    customer: Customer
    topic: Topic
    status: ConsentStatus
    proof: ConsentProof


class ConfirmationInvalid(Exception):
    """The confirmation link is tampered with, expired, or no longer applies."""


@transaction.atomic
def consents_record(*, changes: Sequence[ConsentChange], at: datetime | None = None) -> int:
    """Apply consent changes in bulk; returns how many changed anything.

    A change that repeats the current status with the same wording is not
    recorded again, so re-running an import leaves the history as it was.
    """
    at = at or clock.now()
    customer_ids = {c.customer.pk for c in changes}
    topic_ids = {c.topic.pk for c in changes}
    current = {
        (c.customer_id, c.topic_id): c
        for c in Consent.objects.filter(customer_id__in=customer_ids, topic_id__in=topic_ids)
    }
    records: list[ConsentRecord] = []
    rows: dict[tuple[int, int], Consent] = {}
    for change in changes:
        key = (change.customer.pk, change.topic.pk)
        existing = rows.get(key) or current.get(key)
        if (
            existing is not None
            and existing.status == change.status
            and existing.text_version == change.proof.text_version
        ):
            continue
        rows[key] = Consent(
            customer=change.customer,
            topic=change.topic,
            status=change.status,
            text_version=change.proof.text_version,
            updated_at=at,
        )
        records.append(
            ConsentRecord(
                customer=change.customer,
                topic=change.topic,
                status=change.status,
                source=change.proof.source,
                actor=change.proof.actor,
                text=change.proof.text,
                text_version=change.proof.text_version,
                ip_address=change.proof.ip_address,
                user_agent=change.proof.user_agent,
                recorded_at=at,
            )
        )
    Consent.objects.bulk_create(
        rows.values(),
        update_conflicts=True,
        unique_fields=["customer", "topic"],
        update_fields=["status", "text_version", "updated_at"],
    )
    ConsentRecord.objects.bulk_create(records)
    # Consent can move a customer on the ladder (prospect), after this commits.
    lifecycle_activity_recorded(activity=[(r.customer_id, CONSENT_CHANGE) for r in records])
    return len(records)


def consent_grant(
    *, customer: Customer, topic: Topic, proof: ConsentProof, at: datetime | None = None
) -> None:
    """Record that the customer agreed to emails on ``topic``."""
    consents_record(changes=[ConsentChange(customer, topic, ConsentStatus.GRANTED, proof)], at=at)


def consent_withdraw(
    *, customer: Customer, topic: Topic, proof: ConsentProof, at: datetime | None = None
) -> None:
    """Withdraw consent on ``topic``; deliveries re-check it before sending."""
    consents_record(changes=[ConsentChange(customer, topic, ConsentStatus.WITHDRAWN, proof)], at=at)


@transaction.atomic
def consent_request(
    *, customer: Customer, topic: Topic, proof: ConsentProof, at: datetime | None = None
) -> bool:
    """Start double opt-in: mark consent pending and email a confirmation link.

    Returns False, and sends nothing, when consent is already granted.
    """
    from customers.tasks import consent_confirmation_send

    current = Consent.objects.filter(customer=customer, topic=topic).first()
    if current is not None and current.status == ConsentStatus.GRANTED:
        return False
    consents_record(changes=[ConsentChange(customer, topic, ConsentStatus.PENDING, proof)], at=at)
    transaction.on_commit(partial(consent_confirmation_send.delay, customer.pk, topic.key))
    return True


def confirmation_token(*, customer: Customer, topic: Topic) -> str:
    """A signed, timestamped token naming the customer and topic to confirm."""
    return signing.dumps({"c": customer.pk, "t": topic.key}, salt=CONFIRM_SALT)


def confirmation_target(token: str) -> tuple[Customer, Topic]:
    """The customer and topic a confirmation token names, or ConfirmationInvalid."""
    try:
        payload = signing.loads(
            token, salt=CONFIRM_SALT, max_age=settings.LADDER_CONSENT_CONFIRM_MAX_AGE
        )
        customer = Customer.objects.get(pk=payload["c"], erased_at__isnull=True)
        topic = Topic.objects.get(key=payload["t"])
    except (signing.BadSignature, KeyError, TypeError, Customer.DoesNotExist, Topic.DoesNotExist):
        raise ConfirmationInvalid("This link is invalid or has expired.") from None
    return customer, topic


@transaction.atomic
def consent_confirm(
    *,
    token: str,
    ip_address: str | None,
    user_agent: str,
    at: datetime | None = None,
) -> tuple[Customer, Topic]:
    """Grant the consent a double opt-in link names, if it is still pending.

    Confirming twice is harmless. A link for a consent that was withdrawn since
    is refused: the customer's latest word wins.
    """
    customer, topic = confirmation_target(token)
    current = Consent.objects.select_for_update().filter(customer=customer, topic=topic).first()
    if current is not None and current.status == ConsentStatus.GRANTED:
        return customer, topic
    if current is None or current.status != ConsentStatus.PENDING:
        raise ConfirmationInvalid("This subscription was cancelled; sign up again to subscribe.")
    proof = ConsentProof(
        source=ConsentSource.CONFIRMATION,
        actor="customer",
        ip_address=ip_address,
        user_agent=user_agent,
        text_version=current.text_version,
    )
    consent_grant(customer=customer, topic=topic, proof=proof, at=at)
    return customer, topic
