"""The journey engine: route new activity, enroll, advance what is due — in batches.

Every function here works on a batch with a fixed number of queries and is
safe to run concurrently and repeatedly:

- ``route_activity`` claims unrouted events and stage changes (``routed_at IS
  NULL``, ``SKIP LOCKED`` on PostgreSQL), enrolls customers whose triggers fire
  and wakes enrollments waiting for those events, then marks the rows routed,
  all in one transaction.
- ``advance_due`` claims due enrollments the same way and runs the pure step
  functions of ``journeys.steps`` on them; the new states, the outbox rows and
  the step counts commit together. A duplicated or retried task finds nothing
  due and changes nothing; the outbox's unique key is the second guard.
"""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet

from campaigns.analysis.attribution import GoalEvent, conversions_attribute
from campaigns.selectors import send_times
from campaigns.services import DeliveryRequest, deliveries_queue
from config.db import bulk_set
from customers.models import (
    Consent,
    ConsentStatus,
    Customer,
    Event,
    StageChange,
    Suppression,
)
from customers.rules import CustomerFacts, EventFact, rule_matches, rule_q
from customers.services.profiles import attributes_merge
from customers.services.stage import StageMove, stages_set
from journeys.document import EventMatch
from journeys.entry import Live, enroll_candidates, enroll_matching, live_journeys, spec_of
from journeys.models import Enrollment, Journey, JourneyVersion, StepCount
from journeys.policy import journey_frequency_cap, journey_quiet_hours
from journeys.steps import (
    Context,
    Converted,
    Send,
    SetProfile,
    State,
    advance,
)

#: Activity rows one routing transaction takes.
ROUTE_BATCH = 5000
#: How far back the frequency cap looks.
CAP_WINDOW = timedelta(weeks=1)


@dataclass
class TickReport:
    routed: int = 0
    enrolled: int = 0
    advanced: int = 0
    left_segment: int = 0
    sent: int = 0
    counts: Counter = field(default_factory=Counter)

    def add(self, other: "TickReport") -> None:
        for name in ("routed", "enrolled", "advanced", "left_segment", "sent"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.counts.update(other.counts)

    @property
    def idle(self) -> bool:
        return not (self.routed or self.enrolled or self.advanced or self.left_segment)


def _claim(queryset: QuerySet) -> QuerySet:
    """Lock the rows a batch takes; other workers skip them instead of waiting."""
    if connection.features.has_select_for_update_skip_locked:
        return queryset.select_for_update(skip_locked=True, of=("self",))
    return queryset  # SQLite: one writer at a time anyway


def event_matches(match: EventMatch, event_fact: EventFact, *, now: datetime) -> bool:
    """Does this one event satisfy an event name + property filter?"""
    facts = CustomerFacts(values={}, attributes={}, consents={}, events=(event_fact,))
    return event_fact.name == match.name and rule_matches(match.rule, facts, now=now)


def _fact(event: Event) -> EventFact:
    return EventFact(
        name=event.name,
        properties=event.properties,
        value=event.value,
        occurred_at=event.occurred_at,
    )


# --- Routing new activity ---------------------------------------------------


@transaction.atomic
def route_activity(*, now: datetime, limit: int = ROUTE_BATCH) -> TickReport:
    """Fire event and stage triggers for new activity and wake waiting enrollments."""
    report = TickReport()
    lives = live_journeys()
    events = list(
        _claim(Event.objects.filter(routed_at__isnull=True).order_by("id")).only(
            "id",
            "customer_id",
            "name",
            "properties",
            "value",
            "currency",
            "occurred_at",
            "received_at",
        )[:limit]
    )
    changes = list(
        _claim(StageChange.objects.filter(routed_at__isnull=True).order_by("id")).only(
            "id", "customer_id", "to_stage", "changed_at"
        )[:limit]
    )
    if not events and not changes:
        return report

    for live in lives:
        trigger = live.spec.trigger
        candidates: list[tuple[int, str]] = []
        if trigger.type == "event":
            candidates = [
                (e.customer_id, f"event:{e.id}")
                for e in events
                if e.received_at >= live.activated_at
                and event_matches(trigger.event, _fact(e), now=now)
            ]
        elif trigger.type == "stage_entered":
            candidates = [
                (c.customer_id, f"stage:{c.id}")
                for c in changes
                if c.to_stage == trigger.stage and c.changed_at >= live.activated_at
            ]
        report.enrolled += enroll_candidates(live, candidates, now=now)

    _wake_waiting(lives, events, now)
    conversions_attribute(events=_goal_events(lives, events, now), at=now)
    Event.objects.filter(pk__in=[e.pk for e in events]).update(routed_at=now)
    StageChange.objects.filter(pk__in=[c.pk for c in changes]).update(routed_at=now)
    report.routed = len(events) + len(changes)
    return report


def _wake_waiting(lives: list[Live], events: list[Event], now: datetime) -> None:
    """Make enrollments due now if an event they wait for (or their goal) arrived;
    the step functions decide whether it really matches."""
    wanted = {live.journey_id: live.spec.awaited_event_names() for live in lives}
    customers = {e.customer_id for e in events if any(e.name in names for names in wanted.values())}
    journeys = [journey_id for journey_id, names in wanted.items() if names]
    if customers and journeys:
        Enrollment.objects.filter(
            journey_id__in=journeys,
            customer_id__in=customers,
            status=Enrollment.Status.ACTIVE,
            due_at__gt=now,
        ).update(due_at=now)


def _goal_events(lives: list[Live], events: list[Event], now: datetime) -> list[GoalEvent]:
    """The batch's events that are some live journey's goal, for attribution."""
    goals = [
        (live.spec.key, live.spec.goal, live.spec.attribution_window)
        for live in lives
        if live.spec.goal is not None
    ]
    if not goals:
        return []
    found = []
    for event in events:
        fact = _fact(event)
        windows = {key: window for key, goal, window in goals if event_matches(goal, fact, now=now)}
        if windows:
            found.append(
                GoalEvent(
                    event_id=event.id,
                    customer_id=event.customer_id,
                    occurred_at=event.occurred_at,
                    value=event.value,
                    currency=event.currency,
                    windows=windows,
                )
            )
    return found


# --- Segment and date triggers ---------------------------------------------


@transaction.atomic
def refresh_segments(*, now: datetime) -> TickReport:
    """Re-evaluate segment triggers that are due: enroll newcomers, and let
    those who left go when the journey says so."""
    report = TickReport()
    for live in live_journeys():
        trigger = live.spec.trigger
        if trigger.type != "segment":
            continue
        claimed = JourneyVersion.objects.filter(
            Q(segment_checked_at__isnull=True) | Q(segment_checked_at__lte=now - trigger.every),
            pk=live.version_id,
        )
        # A conditional UPDATE claims the refresh: two workers cannot both do it.
        if not claimed.update(segment_checked_at=now):
            continue
        report.enrolled += enroll_matching(
            live, rule=trigger.rule, trigger_ref=f"segment:{now:%Y%m%dT%H%M%S}", now=now
        )
        if trigger.exit_on_leave:
            report.left_segment += (
                Enrollment.objects.filter(
                    journey_id=live.journey_id, status=Enrollment.Status.ACTIVE
                )
                .exclude(customer__in=Customer.objects.filter(rule_q(trigger.rule, now=now)))
                .update(
                    status=Enrollment.Status.EXITED,
                    exit_reason="left_segment",
                    ended_at=now,
                    due_at=None,
                )
            )
    return report


def _anniversary_suffixes(now: datetime) -> list[str]:
    """ "-MM-DD" for every calendar date it is somewhere on Earth right now."""
    return [f"-{(now + timedelta(days=d)):%m-%d}" for d in (-1, 0, 1)]


def enroll_anniversaries(*, now: datetime) -> TickReport:
    """Date triggers: enroll customers whose date attribute (birthday, signup
    anniversary) falls on today in their own time zone, once the local time of
    day has come. Once a year: the trigger reference holds the local year."""
    report = TickReport()
    for live in live_journeys():
        trigger = live.spec.trigger
        if trigger.type != "date":
            continue
        field_path = f"attributes__{trigger.attribute}"
        suffixes = _anniversary_suffixes(now)
        matching = Customer.objects.none()
        for suffix in suffixes:
            matching |= Customer.objects.filter(**{f"{field_path}__endswith": suffix})
        candidates = []
        for pk, tz_name, value in matching.values_list("pk", "time_zone", field_path):
            local = now.astimezone(ZoneInfo(tz_name))
            if (
                isinstance(value, str)
                and value.endswith(f"-{local:%m-%d}")
                and local.time() >= trigger.local_time
            ):
                candidates.append((pk, f"date:{local.year}"))
        with transaction.atomic():
            report.enrolled += enroll_candidates(live, candidates, now=now)
    return report


# --- Advancing --------------------------------------------------------------


class _BatchFacts:
    """Everything the step functions may ask about a batch's customers: a
    handful of queries for the whole batch, none per customer."""

    def __init__(self, rows: list[Enrollment], specs: dict, now: datetime) -> None:
        ids = {row.customer_id for row in rows}
        # Only what steps and update actions read: attributes can be large.
        self.customers = Customer.objects.only(
            "id", "time_zone", "erased_at", "stage", "stage_changed_at", "updated_at"
        ).in_bulk(ids)
        self.granted = {
            topic: set(
                Consent.objects.filter(
                    topic__key=topic, status=ConsentStatus.GRANTED, customer_id__in=ids
                ).values_list("customer_id", flat=True)
            )
            for topic in {spec.topic for spec in specs.values()}
        }
        self.suppressed = set(
            Customer.objects.filter(pk__in=ids)
            .filter(Exists(Suppression.objects.filter(address_hash=OuterRef("email_hash"))))
            .values_list("pk", flat=True)
        )
        rules = {id(rule): rule for spec in specs.values() for rule in spec.condition_rules()}
        self.matched = {
            key: set(
                Customer.objects.filter(pk__in=ids)
                .filter(rule_q(rule, now=now))
                .values_list("pk", flat=True)
            )
            for key, rule in rules.items()
        }
        names = set().union(*(spec.awaited_event_names() for spec in specs.values()))
        self.events: dict[int, list[EventFact]] = defaultdict(list)
        if names:
            since = min(row.entered_at for row in rows)
            for event in Event.objects.filter(
                customer_id__in=ids, name__in=names, occurred_at__gte=since
            ).order_by("occurred_at"):
                self.events[event.customer_id].append(_fact(event))
        self.sends = send_times(ids, since=now - CAP_WINDOW)
        self.now = now

    def context(self, row: Enrollment, spec) -> Context:
        customer = self.customers[row.customer_id]
        events = self.events.get(row.customer_id, ())

        def first_event(match: EventMatch, since: datetime) -> datetime | None:
            for fact in events:
                if fact.occurred_at >= since and event_matches(match, fact, now=self.now):
                    return fact.occurred_at
            return None

        if customer.erased_at is not None:
            must_exit = "erased"
        elif row.customer_id in self.suppressed:
            must_exit = "suppressed"
        elif row.customer_id not in self.granted[spec.topic]:
            must_exit = "consent_withdrawn"
        else:
            must_exit = None
        return Context(
            customer_id=row.customer_id,
            time_zone=ZoneInfo(customer.time_zone),
            matches=lambda rule: row.customer_id in self.matched[id(rule)],
            first_event=first_event,
            recent_sends=tuple(self.sends.get(row.customer_id, ())),
            frequency_cap=journey_frequency_cap(spec),
            quiet_hours=journey_quiet_hours(spec),
            must_exit=must_exit,
        )


ENROLLMENT_FIELDS = (
    "status",
    "step",
    "step_since",
    "visit",
    "due_at",
    "ended_at",
    "exit_reason",
    "converted_at",
    "branches",
)


@transaction.atomic
def advance_due(*, now: datetime, batch_size: int | None = None) -> TickReport:
    """Claim up to ``batch_size`` due enrollments and advance each as far as it goes."""
    report = TickReport()
    rows = list(
        _claim(
            Enrollment.objects.filter(
                status=Enrollment.Status.ACTIVE,
                due_at__lte=now,
                journey__status=Journey.Status.ACTIVE,
            ).order_by("due_at", "id")
        )[: batch_size or settings.LADDER_ENGINE_BATCH]
    )
    if not rows:
        return report
    versions = JourneyVersion.objects.select_related("journey").in_bulk(
        {row.version_id for row in rows}
    )
    specs = {pk: spec_of(version) for pk, version in versions.items()}
    facts = _BatchFacts(rows, specs, now)

    deliveries: list[DeliveryRequest] = []
    moves: list[StageMove] = []
    attributes: dict[int, dict] = defaultdict(dict)
    for row in rows:
        spec = specs[row.version_id]
        state = State(row.step, row.step_since, row.visit, row.entered_at, row.branches)
        outcome = advance(spec, state, facts.context(row, spec), now)
        for step, result in outcome.trail:
            report.counts[row.version_id, step, result] += 1
        for action in outcome.actions:
            if isinstance(action, Send):
                # Later enrollments of this customer in the batch see this send.
                facts.sends.setdefault(row.customer_id, []).append(now)
                deliveries.append(
                    DeliveryRequest(
                        customer_id=row.customer_id,
                        message_key=action.message,
                        enrollment_id=row.pk,
                        journey_key=spec.key,
                        journey_version=versions[row.version_id].number,
                        step_key=action.step,
                        visit=action.visit,
                        branches=action.branches,
                    )
                )
            elif isinstance(action, SetProfile):
                if action.stage:
                    moves.append(
                        StageMove(
                            facts.customers[row.customer_id],
                            action.stage,
                            f"journey {spec.key}, step {action.step}",
                        )
                    )
                attributes[row.customer_id].update(action.attributes)
            elif isinstance(action, Converted):
                row.converted_at = row.converted_at or now
        _apply(row, outcome, now)

    bulk_set(rows, ENROLLMENT_FIELDS)
    deliveries_queue(requests=deliveries, at=now)
    if moves:
        stages_set(moves=moves, at=now)
    if attributes:
        attributes_merge(changes=dict(attributes), at=now)
    _increment_counts(report.counts)
    report.advanced = len(rows)
    report.sent = len(deliveries)
    return report


def _apply(row: Enrollment, outcome, now: datetime) -> None:
    state = outcome.state
    row.step, row.step_since, row.visit = state.step, state.since, state.visit
    row.branches = state.branches
    row.due_at = outcome.due_at
    if outcome.ended is not None:
        completed = outcome.ended == "completed"
        row.status = Enrollment.Status.COMPLETED if completed else Enrollment.Status.EXITED
        row.exit_reason = outcome.ended
        row.ended_at = now


def _increment_counts(counts: Counter) -> None:
    """Add to the step counters with one upsert; sorted so that concurrent
    workers lock counter rows in the same order and cannot deadlock."""
    if not counts:
        return
    table = StepCount._meta.db_table
    keys = sorted(counts)
    values = ", ".join(["(%s, %s, %s, %s)"] * len(keys))
    params = [p for key in keys for p in (*key, counts[key])]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (version_id, step, outcome, count) VALUES {values} "
            f"ON CONFLICT (version_id, step, outcome) "
            f"DO UPDATE SET count = {table}.count + excluded.count",
            params,
        )


# --- The tick ---------------------------------------------------------------


def route_and_enroll(*, now: datetime) -> TickReport:
    """Everything a tick does before advancing: routing, segments, dates."""
    report = TickReport()
    while True:
        routed = route_activity(now=now)
        report.add(routed)
        if routed.routed < ROUTE_BATCH:
            break
    report.add(refresh_segments(now=now))
    report.add(enroll_anniversaries(now=now))
    return report


def advance_until(*, now: datetime, deadline: float | None = None) -> TickReport:
    """Advance due batches until none is left (or the monotonic ``deadline`` passes)."""
    report = TickReport()
    while deadline is None or time.monotonic() < deadline:
        advanced = advance_due(now=now)
        report.add(advanced)
        if not advanced.advanced:
            break
    return report


def run_until_idle(*, now: datetime) -> TickReport:
    """Tick until nothing is left to route or advance at ``now``."""
    report = TickReport()
    while True:
        step = route_and_enroll(now=now)
        step.add(advance_until(now=now))
        report.add(step)
        if step.idle:
            return report


def next_due_at() -> datetime | None:
    """When the next enrollment wakes up, for simulations that jump ahead."""
    return (
        Enrollment.objects.filter(
            status=Enrollment.Status.ACTIVE,
            due_at__isnull=False,
            journey__status=Journey.Status.ACTIVE,
        )
        .order_by("due_at")
        .values_list("due_at", flat=True)
        .first()
    )
