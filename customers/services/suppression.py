"""The do-not-email list, kept as hashes of addresses."""

from django.db import transaction

from config import clock
from customers.models import Suppression, SuppressionReason, address_hash


@transaction.atomic
def suppression_add(*, email: str, reason: SuppressionReason, note: str = "") -> Suppression:
    """Never email this (normalized) address again; the first reason is kept."""
    suppression, _ = Suppression.objects.get_or_create(
        address_hash=address_hash(email),
        defaults={"reason": reason, "note": note, "created_at": clock.now()},
    )
    return suppression


def suppression_remove(*, email: str) -> bool:
    """Lift a suppression, e.g. after a mistaken manual entry. True if one existed."""
    deleted, _ = Suppression.objects.filter(address_hash=address_hash(email)).delete()
    return bool(deleted)
