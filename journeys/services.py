"""Writing journeys: save a document as a version, go live, pause."""

from datetime import datetime
from typing import Any

from django.db import transaction

from campaigns.selectors import message_keys
from config import clock
from customers.models import Topic
from journeys.document import JourneyInvalid, journey_reference_errors, parse_journey
from journeys.entry import Live, enroll_matching, spec_of
from journeys.models import Journey, JourneyVersion


def journey_validate(document: Any) -> None:
    """Raise ``JourneyInvalid`` listing every problem, including unknown messages/topics."""
    spec = parse_journey(document)
    problems = journey_reference_errors(
        spec, messages=message_keys(), topics=set(Topic.objects.values_list("key", flat=True))
    )
    if problems:
        raise JourneyInvalid(problems)


@transaction.atomic
def journey_save(*, document: dict[str, Any], at: datetime | None = None) -> JourneyVersion:
    """Store a validated document as the journey's newest version.

    A version that was never live is edited in place. Once a version has been
    live it is frozen: saving writes version N+1, and if the journey is active
    the new version goes live at once — customers already in it finish on the
    version they entered.
    """
    journey_validate(document)
    at = at or clock.now()
    journey, _ = Journey.objects.select_for_update().get_or_create(
        key=document["key"], defaults={"name": document["name"], "created_at": at}
    )
    latest = journey.versions.order_by("-number").first()
    if latest is not None and latest.document == document:
        return latest
    if latest is not None and latest.activated_at is None:
        latest.document = document
        latest.save(update_fields=["document"])
        version = latest
    else:
        version = JourneyVersion.objects.create(
            journey=journey,
            number=latest.number + 1 if latest else 1,
            document=document,
            created_at=at,
        )
    journey.name = document["name"]
    journey.updated_at = at
    journey.save(update_fields=["name", "updated_at"])
    if journey.status == Journey.Status.ACTIVE:
        _go_live(journey, version, at)
    return version


@transaction.atomic
def journey_activate(*, journey: Journey, at: datetime | None = None) -> int:
    """Put the newest version live. A broadcast enrolls everyone who matches now;
    returns how many were enrolled that way."""
    at = at or clock.now()
    version = journey.versions.order_by("-number").first()
    if version is None:
        raise JourneyInvalid(["journey: it has no version to activate"])
    if journey.status == Journey.Status.ACTIVE and journey.live_version_id == version.pk:
        return 0
    return _go_live(journey, version, at)


def _go_live(journey: Journey, version: JourneyVersion, at: datetime) -> int:
    version.activated_at = version.activated_at or at
    version.save(update_fields=["activated_at"])
    journey.live_version = version
    journey.status = Journey.Status.ACTIVE
    journey.updated_at = at
    journey.save(update_fields=["live_version", "status", "updated_at"])
    spec = spec_of(version)
    if spec.trigger.type != "broadcast":
        return 0
    live = Live(journey.pk, version.pk, version.number, version.activated_at, spec)
    return enroll_matching(
        live, rule=spec.trigger.rule, trigger_ref=f"broadcast:v{version.number}", now=at
    )


def journey_pause(*, journey: Journey, at: datetime | None = None) -> None:
    """Stop enrolling and advancing; customers in it wait where they are until resumed."""
    journey.status = Journey.Status.PAUSED
    journey.updated_at = at or clock.now()
    journey.save(update_fields=["status", "updated_at"])
