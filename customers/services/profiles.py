"""Creating and updating customer profiles, one or many at a time.

Everything goes through ``customers_upsert``, which works on a whole batch with
a fixed number of queries: the API's single upsert is a batch of one, the CSV
import sends batches of a thousand.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction

from config import clock
from config.db import bulk_set
from customers.errors import FieldError, InvalidInput
from customers.models import Customer, Stage, StageChange
from customers.signals import activity_recorded

#: Plain profile fields an upsert may set; None in the input means "leave as is".
PROFILE_FIELDS = ("email", "external_id", "first_name", "last_name", "locale", "time_zone")


@dataclass(frozen=True)
class ProfileInput:
    """One customer as a caller describes it; values already validated."""

    email: str | None = None
    external_id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    locale: str | None = None
    time_zone: str | None = None
    #: Merged into the stored attributes key by key.
    attributes: dict[str, Any] | None = None


@dataclass(frozen=True)
class Upserted:
    customer: Customer
    created: bool
    #: False when an existing customer already had every value given.
    changed: bool


def _find_existing(profiles: Sequence[ProfileInput]) -> tuple[dict, dict]:
    emails = {p.email for p in profiles if p.email}
    external_ids = {p.external_id for p in profiles if p.external_id}
    by_email = {c.email: c for c in Customer.objects.filter(email__in=emails)} if emails else {}
    by_external = (
        {c.external_id: c for c in Customer.objects.filter(external_id__in=external_ids)}
        if external_ids
        else {}
    )
    return by_email, by_external


def _match(
    index: int, profile: ProfileInput, by_email: dict, by_external: dict
) -> tuple[Customer | None, list[FieldError]]:
    """The stored customer this profile describes, or the reason it is ambiguous."""
    if not profile.email and not profile.external_id:
        return None, [FieldError(index, "email", "email or external_id is required")]
    by_ext = by_external.get(profile.external_id)
    by_mail = by_email.get(profile.email)
    if by_ext and by_mail and by_ext.pk != by_mail.pk:
        return None, [
            FieldError(
                index,
                "email",
                f"{profile.email} belongs to customer #{by_mail.pk}, but external_id "
                f"{profile.external_id} is customer #{by_ext.pk}",
            )
        ]
    found = by_ext or by_mail
    if found and profile.external_id and found.external_id not in (None, profile.external_id):
        return None, [
            FieldError(
                index,
                "external_id",
                f"{profile.email} already has external_id {found.external_id}; "
                "an external id is never changed by an upsert",
            )
        ]
    return found, []


def customers_upsert_check(*, profiles: Sequence[ProfileInput]) -> list[FieldError]:
    """What would stop ``customers_upsert`` from writing these profiles; writes nothing."""
    by_email, by_external = _find_existing(profiles)
    return _plan(profiles, by_email, by_external)[1]


def _plan(profiles, by_email, by_external):
    errors: list[FieldError] = []
    seen: dict[tuple[str, str], int] = {}
    matches: list[Customer | None] = []
    for index, profile in enumerate(profiles):
        for field in ("email", "external_id"):
            value = getattr(profile, field)
            if value and (field, value) in seen:
                errors.append(
                    FieldError(
                        index, field, f"{value} appears twice (first at item {seen[field, value]})"
                    )
                )
            elif value:
                seen[field, value] = index
        found, problems = _match(index, profile, by_email, by_external)
        errors.extend(problems)
        matches.append(found)
    return matches, errors


def _apply(customer: Customer, profile: ProfileInput, at: datetime) -> set[str]:
    """Copy the profile onto the customer; the names of the fields that changed."""
    changed = set()
    for field in PROFILE_FIELDS:
        value = getattr(profile, field)
        if value is not None and getattr(customer, field) != value:
            setattr(customer, field, value)
            changed.add(field)
    if profile.attributes:
        merged = {**customer.attributes, **profile.attributes}
        if merged != customer.attributes:
            customer.attributes = merged
            changed.add("attributes")
    if changed:
        customer.updated_at = at
        changed.add("updated_at")
    if "email" in changed:
        customer.sync_email_hash()
        changed.add("email_hash")
    return changed


@transaction.atomic
def customers_upsert(
    *, profiles: Sequence[ProfileInput], cause: str, at: datetime | None = None
) -> list[Upserted]:
    """Create or update every profile, matched by external id first, then email.

    All-or-nothing: if any profile is ambiguous (its email and external id name
    two different customers, or it repeats an earlier item), ``InvalidInput``
    lists them all and nothing is written. New customers start as suspects and
    their first stage is recorded with ``cause``.
    """
    at = at or clock.now()
    by_email, by_external = _find_existing(profiles)
    matches, errors = _plan(profiles, by_email, by_external)
    if errors:
        raise InvalidInput(errors)

    results: list[Upserted] = []
    new: list[Customer] = []
    changed: list[Customer] = []
    # Only the columns some row changed are written.
    changed_fields: set[str] = set()
    for profile, found in zip(profiles, matches, strict=True):
        if found is None:
            customer = Customer(created_at=at, updated_at=at, stage_changed_at=at, time_zone="UTC")
            _apply(customer, profile, at)
            new.append(customer)
            results.append(Upserted(customer, created=True, changed=True))
        else:
            fields = _apply(found, profile, at)
            if fields:
                changed.append(found)
                changed_fields |= fields
            results.append(Upserted(found, created=False, changed=bool(fields)))

    Customer.objects.bulk_create(new)
    StageChange.objects.bulk_create(
        StageChange(customer=c, to_stage=Stage.SUSPECT, changed_at=at, cause=cause) for c in new
    )
    if new:
        activity_recorded.send(sender=StageChange, kind="stage", customer_ids={c.pk for c in new})
    if changed:
        bulk_set(changed, sorted(changed_fields))
    return results


@transaction.atomic
def attributes_merge(*, changes: dict[int, dict[str, Any]], at: datetime | None = None) -> int:
    """Merge attributes into several customers at once (journey update steps)."""
    at = at or clock.now()
    customers = list(Customer.objects.filter(pk__in=changes).only("attributes"))
    for customer in customers:
        customer.attributes = {**customer.attributes, **changes[customer.pk]}
        customer.updated_at = at
    bulk_set(customers, ["attributes", "updated_at"])
    return len(customers)


def customer_upsert(*, profile: ProfileInput, cause: str, at: datetime | None = None) -> Upserted:
    """``customers_upsert`` for one profile; errors carry ``index=None``."""
    try:
        return customers_upsert(profiles=[profile], cause=cause, at=at)[0]
    except InvalidInput as exc:
        raise exc.for_single_item() from None
