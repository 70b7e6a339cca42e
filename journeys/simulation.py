"""Simulating a draft journey on stored history before it goes live.

``journey_simulate`` replays a window of the recent past as if the journey had
been live since the window opened. Triggers fire on the events, stage changes
and dates stored for that window; every enrollment advances on a virtual clock
through the very step functions the engine runs (``journeys.steps.advance``).
What the steps may know about a customer is taken from history as of each
virtual moment — consent from the consent history, stage from the stage
history, only the events that had happened by then — so a condition on day two
does not see a purchase made on day five.

The database is read in a fixed number of bulk queries and never written.
docs/simulation.md says what is replayed and what is approximated.
"""

import heapq
import itertools
import re
from bisect import bisect_left, bisect_right, insort
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from operator import attrgetter, itemgetter
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from campaigns.models import Message
from campaigns.selectors import send_times
from customers.bucketing import bucket, pick
from customers.models import (
    Consent,
    ConsentRecord,
    ConsentStatus,
    Customer,
    Event,
    StageChange,
    Suppression,
)
from customers.rules import CustomerFacts, EventFact, Rule, rule_matches, rule_topics
from customers.rules.facts import FACT_FIELDS
from customers.rules.nodes import (
    AllOf,
    AnyOf,
    AttributeTest,
    ConsentTest,
    DaysAgo,
    DaysSinceLastPurchase,
    EventTest,
    FieldTest,
    Not,
    StageTest,
)
from journeys.document import (
    EventMatch,
    Journey,
    SendEmail,
    Split,
    parse_journey,
)

# The cap and quiet hours are resolved by the engine's own helpers, so that a
# change of the site-wide defaults reaches the simulation too.
from journeys.engine import CAP_WINDOW, event_matches
from journeys.policy import journey_frequency_cap, journey_quiet_hours
from journeys.selectors import outcomes_ordered
from journeys.services import journey_validate
from journeys.steps import Action, Context, Converted, Send, SetProfile, State, advance

#: The engine handles activity just after it happened, never at the same
#: instant: an event must not count as its own goal, nor as the event that a
#: wait_for_event right after the trigger is waiting for.
REACTION = timedelta(microseconds=1)
#: Customer ids per query when a sample is loaded: SQLite accepts some 32,000
#: parameters in one statement.
IDS_PER_QUERY = 10_000
#: Rows fetched per round trip while a table is streamed.
ROWS_PER_FETCH = 5_000
#: The hash ``limit`` samples by: the same customers every time, spread over the base.
SAMPLE_EXPERIMENT = "simulation:sample"
#: Before anything was recorded: a consent known only from its current row held all along.
ALWAYS = datetime.min.replace(tzinfo=UTC)
#: After the end of any window: a rule answer that nothing can change holds until then.
FOREVER = datetime.max.replace(tzinfo=UTC)
#: Consent status of a topic the customer was never asked about (as in the rule language).
NEVER_ASKED = "none"

# At one virtual moment the engine routes new activity, refreshes segments,
# and then advances what is due; the queue keeps that order for ties.
ROUTE, REFRESH, ADVANCE = 0, 1, 2

_occurred_at = attrgetter("occurred_at")
_first = itemgetter(0)


@dataclass(frozen=True)
class SimulationReport:
    """What the journey would have done over the window."""

    journey: str
    name: str
    start: datetime
    end: datetime
    #: Customers the replay looked at: all who have an address and were not
    #: erased, or a sample of ``population`` of them.
    customers: int
    population: int
    #: Enrollments; a customer who re-enters counts once per entry.
    enrolled: int
    #: step -> outcome -> count (as the engine's StepCount), steps in the
    #: order a customer meets them, every step listed even when nobody got there.
    steps: dict[str, dict[str, int]]
    #: Why enrollments ended: "completed", "goal", "holdout", "consent_withdrawn" …
    exits: dict[str, int]
    #: Enrollments still in the journey when the window closed, by the step they are on.
    in_progress: dict[str, int]
    #: Goal name -> conversions ("goal" is the journey's goal event).
    conversions: dict[str, int]
    #: Message -> variant -> emails that would have been queued.
    sends: dict[str, dict[str, int]]
    #: Split step -> branch -> enrollments sent that way.
    splits: dict[str, dict[str, int]]

    @property
    def sampled(self) -> bool:
        return self.customers < self.population

    @property
    def emails(self) -> int:
        return sum(sum(variants.values()) for variants in self.sends.values())

    def as_json(self) -> dict[str, Any]:
        return {
            "journey": self.journey,
            "name": self.name,
            "window": {"start": self.start.isoformat(), "end": self.end.isoformat()},
            "customers": {"considered": self.customers, "population": self.population},
            "enrolled": self.enrolled,
            "emails": self.emails,
            "steps": self.steps,
            "exits": self.exits,
            "in_progress": self.in_progress,
            "conversions": self.conversions,
            "sends": self.sends,
            "splits": self.splits,
        }


def journey_simulate(
    *,
    document: Any,
    start: datetime,
    end: datetime,
    limit: int | None = None,
    progress: Callable[[datetime], None] | None = None,
) -> SimulationReport:
    """Replay ``document`` over the stored history from ``start`` to ``end``.

    The document is validated exactly as an import validates it
    (``JourneyInvalid`` lists every problem); it need not be stored. ``limit``
    replays a stable sample of that many customers; ``progress`` is called
    with the virtual time as it moves on.
    """
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("a simulation window has aware bounds")
    if end <= start:
        raise ValueError("a simulation window ends after it starts")
    journey_validate(document)
    spec = parse_journey(document)
    population, customers = _customers_load(spec, start=start, end=end, limit=limit)
    replay = _Replay(spec, customers, _variants(spec), start=start, end=end, progress=progress)
    replay.run()
    return replay.report(population)


# --- One customer's history ------------------------------------------------


class _Customer:
    """One customer as stored, asked about any moment of the window."""

    __slots__ = (
        "answers",
        "attributes",
        "consents",
        "event_ids",
        "events",
        "moments",
        "pk",
        "sends",
        "settled_until",
        "stage_before",
        "stages",
        "suppressed_at",
        "values",
        "zone",
    )

    def __init__(self, row: dict[str, Any]) -> None:
        self.pk: int = row["pk"]
        self.zone = ZoneInfo(row["time_zone"])
        self.values = {name: row[name] for name in FACT_FIELDS}
        self.attributes: dict[str, Any] = row["attributes"]
        self.suppressed_at: datetime | None = row["suppressed_at"]
        #: topic -> [(recorded_at, status)], oldest first.
        self.consents: dict[str, list[tuple[datetime, str]]] = {}
        #: [(changed_at, stage, StageChange id or None if simulated)], oldest
        #: first; empty when the stage has not changed since the window opened.
        self.stages: list[tuple[datetime, str, int | None]] = []
        #: (stage, since) before the first change in ``stages``.
        self.stage_before: tuple[str, datetime] = (row["stage"], row["stage_changed_at"])
        #: The events the journey looks at, oldest first, and their ids.
        self.events: list[EventFact] = []
        self.event_ids: list[int] = []
        #: Queue times of marketing emails: real ones of other journeys, and simulated.
        self.sends: list[datetime] = []
        #: id(rule) -> (answer, evaluated at, valid until); see ``_Replay.answer``.
        self.answers: dict[int, tuple[bool, datetime, datetime]] = {}
        #: Every timestamp of the customer, sorted; built when first needed.
        self.moments: list[datetime] | None = None
        #: A segment refresh has nothing to decide for the customer before then.
        self.settled_until = ALWAYS

    def consent_at(self, topic: str, when: datetime) -> str:
        history = self.consents.get(topic, ())
        index = bisect_right(history, when, key=_first)
        return history[index - 1][1] if index else NEVER_ASKED

    def consent_changes_after(self, topic: str, when: datetime) -> datetime:
        history = self.consents.get(topic, ())
        index = bisect_right(history, when, key=_first)
        return history[index][0] if index < len(history) else FOREVER

    def stage_at(self, when: datetime) -> tuple[str, datetime]:
        index = bisect_right(self.stages, when, key=_first)
        if not index:
            return self.stage_before
        changed_at, stage, _ = self.stages[index - 1]
        return stage, changed_at

    def change(self, when: datetime, *, attributes: dict[str, Any], stage: str | None) -> None:
        """An update step's changes, from ``when`` on."""
        self.attributes = {**self.attributes, **attributes}
        if stage is not None:
            insort(self.stages, (when, stage, None), key=_first)
        self.answers.clear()
        self.moments = None
        self.settled_until = ALWAYS

    def timestamps(self) -> list[datetime]:
        """Every moment of the customer's history a rule can compare with the clock."""
        if self.moments is None:
            found = [fact.occurred_at for fact in self.events]
            found += [at for at, _, _ in self.stages]
            found += [at for history in self.consents.values() for at, _ in history]
            found += [v for v in self.values.values() if isinstance(v, datetime)]
            found.append(self.stage_before[1])
            self.moments = sorted(found)
        return self.moments

    def events_between(self, since: datetime, until: datetime) -> list[EventFact]:
        """Events that occurred in [since, until]."""
        low = bisect_left(self.events, since, key=_occurred_at)
        return self.events[low : bisect_right(self.events, until, key=_occurred_at)]

    def facts_at(self, when: datetime) -> CustomerFacts:
        """What a rule sees at ``when``: history up to then, the profile as it is now."""
        stage, changed_at = self.stage_at(when)
        return CustomerFacts(
            values={**self.values, "stage": stage, "stage_changed_at": changed_at},
            attributes=self.attributes,
            consents={topic: self.consent_at(topic, when) for topic in self.consents},
            events=tuple(self.events[: bisect_right(self.events, when, key=_occurred_at)]),
        )

    def sends_within(self, since: datetime, until: datetime) -> tuple[datetime, ...]:
        """Queue times in (since, until], oldest first."""
        low = bisect_right(self.sends, since)
        return tuple(self.sends[low : bisect_right(self.sends, until)])

    def must_exit(self, topic: str, when: datetime) -> str | None:
        """Why the engine would let the customer go at ``when``, in the engine's order."""
        if self.suppressed_at is not None and self.suppressed_at <= when:
            return "suppressed"
        if self.consent_at(topic, when) != ConsentStatus.GRANTED:
            return "consent_withdrawn"
        return None


# --- Loading ---------------------------------------------------------------


def _rows(queryset: QuerySet, ids: list[int] | None, field: str = "customer_id") -> Iterator:
    """The queryset's rows for these customers (all when ``ids`` is None),
    streamed, with a bounded number of ids per query."""
    if ids is None:
        yield from queryset.iterator(chunk_size=ROWS_PER_FETCH)
        return
    for offset in range(0, len(ids), IDS_PER_QUERY):
        chunk = ids[offset : offset + IDS_PER_QUERY]
        yield from queryset.filter(**{f"{field}__in": chunk}).iterator(chunk_size=ROWS_PER_FETCH)


def _customers_load(
    spec: Journey, *, start: datetime, end: datetime, limit: int | None
) -> tuple[int, list[_Customer]]:
    """How many customers could be considered, and those that are, with the
    history the replay needs: one query per table (per IDS_PER_QUERY
    customers when sampling), never one per customer."""
    addressable = Customer.objects.filter(erased_at__isnull=True, email__isnull=False)
    population = addressable.count()
    ids = None
    if limit is not None and limit < population:
        every_id = addressable.values_list("pk", flat=True).iterator(chunk_size=ROWS_PER_FETCH)
        ids = sorted(heapq.nsmallest(limit, every_id, key=lambda pk: bucket(SAMPLE_EXPERIMENT, pk)))

    suppressed_at = Suppression.objects.filter(address_hash=OuterRef("email_hash")).values(
        "created_at"
    )[:1]
    rows = (
        addressable.order_by("pk")
        .values("pk", "attributes", *FACT_FIELDS)
        .annotate(suppressed_at=Subquery(suppressed_at))
    )
    customers = {row["pk"]: _Customer(row) for row in _rows(rows, ids, "pk")}

    def each(queryset: QuerySet) -> Iterator[tuple[_Customer, tuple]]:
        # Rows of customers written after the customer query are left out.
        for pk, *rest in _rows(queryset, ids):
            if pk in customers:
                yield customers[pk], rest

    topics = {spec.topic}.union(*(rule_topics(rule) for rule in spec.rules()))
    records = ConsentRecord.objects.filter(topic__key__in=topics).order_by(
        "customer_id", "recorded_at", "id"
    )
    for customer, (topic, status, at) in each(
        records.values_list("customer_id", "topic__key", "status", "recorded_at")
    ):
        customer.consents.setdefault(topic, []).append((at, status))
    current = Consent.objects.filter(topic__key__in=topics)
    for customer, (topic, status) in each(
        current.values_list("customer_id", "topic__key", "status")
    ):
        # A consent written around the services has no history: it held all along.
        customer.consents.setdefault(topic, [(ALWAYS, status)])

    # Only customers whose stage changed since the window opened need their
    # stage history; everyone else has been on their current stage throughout.
    changes = StageChange.objects.filter(customer__stage_changed_at__gte=start).order_by(
        "customer_id", "changed_at", "id"
    )
    for customer, (change_id, from_stage, to_stage, at) in each(
        changes.values_list("customer_id", "id", "from_stage", "to_stage", "changed_at")
    ):
        if not customer.stages:
            customer.stage_before = (from_stage or to_stage, customer.values["created_at"])
        customer.stages.append((at, to_stage, change_id))

    wanted = _events_wanted(spec, start)
    if wanted is not None:
        events = Event.objects.filter(wanted, occurred_at__lte=end).order_by(
            "customer_id", "occurred_at", "id"
        )
        for customer, (event_id, name, properties, value, at) in each(
            events.values_list("customer_id", "id", "name", "properties", "value", "occurred_at")
        ):
            customer.events.append(EventFact(name, properties, value, at))
            customer.event_ids.append(event_id)

    # Emails other journeys really queued share the frequency cap with this
    # one; this journey's own (an earlier version of it) would be replaced.
    others = send_times(None, since=start - CAP_WINDOW, until=end, exclude_journey=spec.key)
    for customer_id, times in others.items():
        if customer_id in customers:
            customers[customer_id].sends.extend(times)
    return population, list(customers.values())


def _events_wanted(spec: Journey, start: datetime) -> Q | None:
    """The events the replay can use, per name from the earliest moment it may
    look at: the trigger, waits and goal from the window's start, the rules'
    events from their widest ``within_days`` before it. None when there are none."""
    since: dict[str, datetime | None] = dict.fromkeys(spec.awaited_event_names(), start)
    if spec.trigger.event is not None:
        since[spec.trigger.event.name] = start
    for rule in spec.rules():
        days = rule.max_event_window_days
        for name in rule.event_names:
            if name in since and since[name] is None:
                continue
            since[name] = (
                None if days is None else min(since.get(name, start), start - timedelta(days=days))
            )
    if not since:
        return None
    wanted = Q()
    for name, earliest in sorted(since.items()):
        wanted |= Q(name=name) if earliest is None else Q(name=name, occurred_at__gte=earliest)
    return wanted


def _variants(spec: Journey) -> dict[str, tuple[str, list[tuple[str, int]]]]:
    """Message key -> (experiment, variant weights), as ``deliveries_queue`` picks by."""
    messages = Message.objects.filter(key__in=spec.messages()).prefetch_related("variants")
    return {
        message.key: (message.experiment_key, [(v.key, v.weight) for v in message.variants.all()])
        for message in messages
    }


# --- The replay ------------------------------------------------------------


@dataclass(eq=False)
class _Enrollment:
    customer: _Customer
    state: State
    due_at: datetime


class _Replay:
    """A priority queue of (virtual time, what happens): triggers firing,
    stored events waking enrollments, segment refreshes, enrollments due."""

    def __init__(
        self,
        spec: Journey,
        customers: list[_Customer],
        variants: dict[str, tuple[str, list[tuple[str, int]]]],
        *,
        start: datetime,
        end: datetime,
        progress: Callable[[datetime], None] | None,
    ) -> None:
        self.spec, self.customers, self.variants = spec, customers, variants
        self.start, self.end, self.progress = start, end, progress
        self.cap = journey_frequency_cap(spec)
        self.quiet = journey_quiet_hours(spec)
        self.offsets = {id(rule): _change_offsets(rule) for rule in spec.rules()}
        self.queue: list[tuple] = []
        self.sequence = itertools.count()
        self.active: dict[int, _Enrollment] = {}
        self.last_entered: dict[int, datetime] = {}
        self.refs: set[tuple[int, str]] = set()
        self.enrolled = 0
        self.steps: dict[str, Counter] = defaultdict(Counter)
        self.exits: Counter = Counter()
        self.conversions: Counter = Counter()
        self.sends: dict[str, Counter] = defaultdict(Counter)

    def _push(self, when: datetime, rank: int, handler: Callable, *args: Any) -> None:
        if when <= self.end:
            heapq.heappush(self.queue, (when, rank, next(self.sequence), handler, args))

    def run(self) -> None:
        self._schedule()
        while self.queue:
            when, _, _, handler, args = heapq.heappop(self.queue)
            if self.progress is not None:
                self.progress(when)
            handler(when, *args)
        if self.progress is not None:
            self.progress(self.end)

    def answer(self, customer: _Customer, rule: Rule, when: datetime) -> tuple[bool, datetime]:
        """Does the customer match the rule at ``when``, and until when at least?

        A segment is re-checked every hour for every customer, but a rule's
        answer changes only at the customer's own timestamps (an event, a stage
        or consent change) or whole days after them (``within_days``,
        ``days_ago``, days since the last purchase). So an answer is
        remembered until the next such moment: the same answers, a fraction
        of the evaluations. A rule this cannot reason about holds until ``when``.
        """
        remembered = customer.answers.get(id(rule))
        if remembered is not None and remembered[1] <= when < remembered[2]:
            return remembered[0], remembered[2]
        answer = rule_matches(rule, customer.facts_at(when), now=when)
        offsets = self.offsets.get(id(rule))
        if offsets is None:
            return answer, when
        moments = customer.timestamps()
        # The first moment at or after ``when`` at which the answer may change.
        until = min(
            (
                moments[index] + offset
                for offset in offsets
                if (index := bisect_left(moments, when - offset)) < len(moments)
            ),
            default=FOREVER,
        )
        customer.answers[id(rule)] = (answer, when, until)
        return answer, until

    def matches(self, customer: _Customer, rule: Rule, when: datetime) -> bool:
        return self.answer(customer, rule, when)[0]

    # Triggers

    def _schedule(self) -> None:
        trigger = self.spec.trigger
        if trigger.type in ("broadcast", "segment"):
            self._push(self.start, REFRESH, self._refresh)
        awaited = self.spec.awaited_event_names()
        for customer in self.customers:
            for fact, event_id in zip(customer.events, customer.event_ids, strict=True):
                if not self.start <= fact.occurred_at <= self.end:
                    continue
                at = fact.occurred_at + REACTION
                if trigger.type == "event" and event_matches(
                    trigger.event, fact, now=fact.occurred_at
                ):
                    self._push(at, ROUTE, self._enter, customer, f"event:{event_id}", None)
                if fact.name in awaited:
                    self._push(at, ROUTE, self._wake, customer)
            if trigger.type == "stage_entered":
                for changed_at, stage, change_id in customer.stages:
                    if stage == trigger.stage and self.start <= changed_at:
                        ref = f"stage:{change_id}"
                        self._push(changed_at + REACTION, ROUTE, self._enter, customer, ref, None)
            elif trigger.type == "date":
                for at, year in _anniversaries(
                    customer, trigger.attribute, trigger.local_time, self.start, self.end
                ):
                    self._push(at, ROUTE, self._enter, customer, f"date:{year}", None)

    def _refresh(self, when: datetime) -> None:
        """A broadcast at the window's start, or one refresh of a segment.

        Customers whose standing cannot have changed since the last refresh
        (``settled_until``) are passed over: an hourly segment is a pass over
        the customers every virtual hour.
        """
        trigger = self.spec.trigger
        ref = "broadcast" if trigger.type == "broadcast" else f"segment:{when:%Y%m%dT%H%M%S}"
        for customer in self.customers:
            if customer.settled_until > when:
                continue
            if customer.pk not in self.active:
                customer.settled_until = self._enter(when, customer, ref, trigger.rule) or ALWAYS
            elif not trigger.exit_on_leave:
                customer.settled_until = FOREVER  # until the enrollment ends
            else:
                still, until = self.answer(customer, trigger.rule, when)
                customer.settled_until = until
                if not still:
                    self._end(customer, "left_segment")
        if trigger.type == "segment":
            self._push(when + trigger.every, REFRESH, self._refresh)

    def _enter(
        self, when: datetime, customer: _Customer, ref: str, rule: Rule | None
    ) -> datetime | None:
        """Enroll the customer if ``journeys.entry`` lets them in at ``when``
        and they match ``rule``; if not, until when at least they would not be."""
        refused = self._refused_until(when, customer, ref, rule)
        if refused is not None:
            return refused
        self.refs.add((customer.pk, ref))
        self.last_entered[customer.pk] = when
        self.enrolled += 1
        enrollment = _Enrollment(customer, State(self.spec.start, when, 0, when), when)
        self.active[customer.pk] = enrollment
        self._push(when, ADVANCE, self._advance, enrollment)
        return None

    def _refused_until(
        self, when: datetime, customer: _Customer, ref: str, rule: Rule | None
    ) -> datetime | None:
        """None if the customer may enter at ``when``, else until when at least
        the first reason they may not holds."""
        spec = self.spec
        if customer.pk in self.active or (customer.pk, ref) in self.refs:
            return FOREVER  # an enrollment's end resets ``settled_until``
        last = self.last_entered.get(customer.pk)
        if last is not None and spec.reentry == "never":
            return FOREVER
        if last is not None and spec.reentry == "after_days":
            again = last + timedelta(days=spec.reentry_days)
            if when < again:
                return again
        reason = customer.must_exit(spec.topic, when)
        if reason == "suppressed":
            return FOREVER
        if reason is not None:
            return customer.consent_changes_after(spec.topic, when)
        for test in (spec.entry_rule, rule):
            if test is not None:
                matched, until = self.answer(customer, test, when)
                if not matched:
                    return until
        return None

    def _end(self, customer: _Customer, reason: str) -> None:
        del self.active[customer.pk]
        self.exits[reason] += 1
        customer.settled_until = ALWAYS

    def _wake(self, when: datetime, customer: _Customer) -> None:
        """An awaited event happened: look at the customer's enrollment now; the
        step functions decide whether the event really is the one awaited."""
        enrollment = self.active.get(customer.pk)
        if enrollment is not None and enrollment.due_at > when:
            enrollment.due_at = when
            self._push(when, ADVANCE, self._advance, enrollment)

    # Advancing

    def _advance(self, when: datetime, enrollment: _Enrollment) -> None:
        customer = enrollment.customer
        # The queue may hold an enrollment several times (woken early, then
        # due again); only its current due time counts.
        if self.active.get(customer.pk) is not enrollment or enrollment.due_at != when:
            return
        outcome = advance(self.spec, enrollment.state, self._context(customer, when), when)
        for step, result in outcome.trail:
            self.steps[step][result] += 1
        for action in outcome.actions:
            self._apply(action, customer, when)
        if outcome.ended is not None:
            self._end(customer, outcome.ended)
            return
        enrollment.state, enrollment.due_at = outcome.state, outcome.due_at
        self._push(outcome.due_at, ADVANCE, self._advance, enrollment)

    def _context(self, customer: _Customer, when: datetime) -> Context:
        def first_event(match: EventMatch, since: datetime) -> datetime | None:
            for fact in customer.events_between(since, when):
                if event_matches(match, fact, now=when):
                    return fact.occurred_at
            return None

        return Context(
            customer_id=customer.pk,
            time_zone=customer.zone,
            matches=lambda rule: self.matches(customer, rule, when),
            first_event=first_event,
            recent_sends=customer.sends_within(when - CAP_WINDOW, when),
            frequency_cap=self.cap,
            quiet_hours=self.quiet,
            must_exit=customer.must_exit(self.spec.topic, when),
        )

    def _apply(self, action: Action, customer: _Customer, when: datetime) -> None:
        if isinstance(action, Send):
            insort(customer.sends, when)
            experiment, weights = self.variants[action.message]
            self.sends[action.message][pick(experiment, customer.pk, weights)] += 1
        elif isinstance(action, SetProfile):
            moved = action.stage if action.stage != customer.stage_at(when)[0] else None
            customer.change(when, attributes=action.attributes, stage=moved)
            trigger = self.spec.trigger
            # The engine routes a journey's own stage moves like any other.
            if moved and trigger.type == "stage_entered" and trigger.stage == moved:
                ref = f"stage:simulated:{when.isoformat()}"
                self._push(when + REACTION, ROUTE, self._enter, customer, ref, None)
        elif isinstance(action, Converted):
            self.conversions[action.name] += 1

    # The report

    def report(self, population: int) -> SimulationReport:
        spec = self.spec
        order = list(spec.step_order)
        waiting = Counter(enrollment.state.step for enrollment in self.active.values())
        splits = {
            key: {
                branch: self.steps[key][branch]
                for branch in [b.name for b in step.branches] + ["holdout"] * bool(step.holdout)
            }
            for key in order
            if isinstance(step := spec.steps[key], Split)
        }
        messages = dict.fromkeys(
            step.message for key in order if isinstance(step := spec.steps[key], SendEmail)
        )
        return SimulationReport(
            journey=spec.key,
            name=spec.name,
            start=self.start,
            end=self.end,
            customers=len(self.customers),
            population=population,
            enrolled=self.enrolled,
            steps={key: outcomes_ordered(self.steps[key], spec.steps[key]) for key in order},
            exits=dict(self.exits.most_common()),
            in_progress={key: waiting[key] for key in order if waiting[key]},
            conversions=dict(self.conversions.most_common()),
            sends={
                message: {
                    variant: self.sends[message][variant]
                    for variant, _ in self.variants[message][1]
                }
                for message in messages
            },
            splits=splits,
        )


def _change_offsets(rule: Rule) -> tuple[timedelta, ...] | None:
    """How long after one of a customer's timestamps the rule's answer may
    change: at the timestamp itself, and whole days after it where the rule
    compares the clock with a number of days. None for a node this does not
    know, whose answer is then never remembered."""
    days = {0}
    for node in rule.walk():
        match node:
            case EventTest(within_days=window) | StageTest(entered_within_days=window):
                days.add(window or 0)
            case DaysSinceLastPurchase(bounds=bounds):
                # Whole days since the purchase pass n, then n + 1.
                days.update(n + step for _, n in bounds for step in (0, 1))
            case FieldTest(value=value):
                values = value if isinstance(value, tuple) else (value,)
                days.update(v.days for v in values if isinstance(v, DaysAgo))
            case AllOf() | AnyOf() | Not() | AttributeTest() | ConsentTest():
                pass
            case _:
                return None
    return tuple(timedelta(days=n) for n in sorted(days))


def _anniversaries(
    customer: _Customer, attribute: str, local_time: time, start: datetime, end: datetime
) -> Iterator[tuple[datetime, int]]:
    """When a date trigger fires for the customer in the window, with the local
    year: the local time of day on the anniversary, or the window's start if it
    opens later that day (the engine enrolls at its first tick past the time)."""
    value = customer.attributes.get(attribute)
    if not isinstance(value, str) or not re.search(r"-\d\d-\d\d\Z", value):
        return
    month, day = int(value[-5:-3]), int(value[-2:])
    first = start.astimezone(customer.zone)
    for year in range(first.year, end.astimezone(customer.zone).year + 1):
        try:
            local_day = date(year, month, day)
        except ValueError:
            continue  # 29 February in a common year: the engine never matches it
        at = datetime.combine(local_day, local_time, tzinfo=customer.zone)
        if at < start and local_day == first.date():
            at = start
        if start <= at <= end:
            yield at, year
