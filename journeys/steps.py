"""Running journey steps: pure functions of (state, customer context, journey, now).

No database here. The engine builds a ``Context`` for a whole batch with a few
queries and writes the ``Outcome``s back in bulk; the simulator builds the same
``Context`` from stored history on a virtual clock. Both therefore run exactly
the same decisions.
"""

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from customers.bucketing import pick
from customers.rules import Rule
from journeys.document import (
    Condition,
    EventMatch,
    Exit,
    FrequencyCap,
    Goal,
    Journey,
    LocalTimeWindow,
    QuietHours,
    SendEmail,
    Split,
    Update,
    Wait,
    WaitForEvent,
)

#: Most steps one advance may take; validation forbids instant loops, this is a backstop.
MAX_STEPS_PER_ADVANCE = 100
DAY, WEEK = timedelta(days=1), timedelta(weeks=1)


@dataclass(frozen=True)
class State:
    """Where an enrollment stands."""

    step: str
    #: When it arrived on ``step``.
    since: datetime
    #: Steps taken so far.
    visit: int
    entered_at: datetime
    branches: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Context:
    """What the steps may know about the customer, gathered by the caller."""

    customer_id: int
    time_zone: ZoneInfo
    #: Does the customer match this rule now?
    matches: Callable[[Rule], bool]
    #: When the customer first did this event at or after a time, if they did.
    first_event: Callable[[EventMatch, datetime], datetime | None]
    #: Queue times of the customer's marketing emails in the last week, oldest first.
    recent_sends: tuple[datetime, ...]
    frequency_cap: FrequencyCap
    #: None: no quiet hours.
    quiet_hours: QuietHours | None
    #: A reason the customer must leave now (consent withdrawn, suppressed), or None.
    must_exit: str | None = None


@dataclass(frozen=True)
class Send:
    message: str
    step: str
    visit: int
    #: The branches taken so far, as they stand when the email is queued: the
    #: A/B analysis credits the email to them (``Delivery.branches``).
    branches: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class SetProfile:
    step: str
    stage: str | None
    attributes: dict


@dataclass(frozen=True)
class Converted:
    step: str
    name: str


Action = Send | SetProfile | Converted


@dataclass(frozen=True)
class Outcome:
    #: The state after the advance; when the enrollment ended, the step it
    #: ended on, with the branches it took (the A/B analysis needs them).
    state: State
    #: When to look again (None when ended).
    due_at: datetime | None
    actions: tuple[Action, ...] = ()
    #: "completed" for an exit step, else why it left early; None while active.
    ended: str | None = None
    #: (step, outcome) for every step passed or blocked on, for the step counts.
    trail: tuple[tuple[str, str], ...] = ()


# --- Local time -------------------------------------------------------------


def next_local_time(after: datetime, tz: ZoneInfo, window: LocalTimeWindow) -> datetime:
    """The first moment strictly after ``after`` that is ``window.at`` local time
    on an allowed weekday, in UTC."""
    local = after.astimezone(tz)
    for days in range(8):
        day = local.date() + timedelta(days=days)
        candidate = datetime.combine(day, window.at, tzinfo=tz)
        if candidate > local and day.weekday() in window.weekdays:
            return candidate.astimezone(after.tzinfo)
    raise AssertionError("a week always contains an allowed weekday")


def quiet_until(now: datetime, tz: ZoneInfo, quiet: QuietHours | None) -> datetime | None:
    """When quiet hours end, if ``now`` is inside them in the customer's zone."""
    if quiet is None or quiet.start == quiet.end:
        return None
    local = now.astimezone(tz)
    clock_time = local.time()
    wraps = quiet.start > quiet.end  # e.g. 21:00-08:00 spans midnight
    inside = (
        (clock_time >= quiet.start or clock_time < quiet.end)
        if wraps
        else quiet.start <= clock_time < quiet.end
    )
    if not inside:
        return None
    end_day = local.date() + timedelta(days=1 if wraps and clock_time >= quiet.start else 0)
    return datetime.combine(end_day, quiet.end, tzinfo=tz).astimezone(now.tzinfo)


def capped_until(now: datetime, sends: tuple[datetime, ...], cap: FrequencyCap) -> datetime | None:
    """When one more email fits under the rolling day/week caps, if it does not now."""
    waits = []
    for limit, window in ((cap.per_day, DAY), (cap.per_week, WEEK)):
        if limit is None:
            continue
        recent = [t for t in sends if t > now - window]
        if len(recent) >= limit:
            # The oldest counted send must age out of the window.
            waits.append(recent[-limit] + window)
    return max(waits) if waits else None


# --- Steps ------------------------------------------------------------------


def advance(journey: Journey, state: State, ctx: Context, now: datetime) -> Outcome:
    """Run steps from ``state`` until the enrollment has to wait, or ends."""
    trail: list[tuple[str, str]] = []
    actions: list[Action] = []
    sends = ctx.recent_sends

    def end(reason: str) -> Outcome:
        return Outcome(state, None, tuple(actions), reason, tuple(trail))

    def block(until: datetime, why: str) -> Outcome:
        trail.append((state.step, why))
        return Outcome(state, until, tuple(actions), None, tuple(trail))

    if ctx.must_exit:
        return end(ctx.must_exit)
    if journey.goal is not None and ctx.first_event(journey.goal, state.entered_at) is not None:
        actions.append(Converted(state.step, "goal"))
        return end("goal")

    for _ in range(MAX_STEPS_PER_ADVANCE):
        step = journey.steps[state.step]
        go: str | None = None
        outcome = ""
        if isinstance(step, Wait):
            due = (
                state.since + step.duration
                if step.duration is not None
                else next_local_time(state.since, ctx.time_zone, step.until)
            )
            if now < due:
                return Outcome(state, due, tuple(actions), None, tuple(trail))
            go, outcome = step.next, "waited"
        elif isinstance(step, WaitForEvent):
            if ctx.first_event(step.event, state.since) is not None:
                go, outcome = step.next, "event"
            elif now >= state.since + step.timeout:
                go, outcome = step.timeout_next, "timeout"
            else:
                return Outcome(
                    state, state.since + step.timeout, tuple(actions), None, tuple(trail)
                )
        elif isinstance(step, Condition):
            passed = ctx.matches(step.rule)
            go, outcome = (step.then, "then") if passed else (step.otherwise, "else")
        elif isinstance(step, Split):
            weights = [(b.name, b.weight) for b in step.branches]
            if step.holdout:
                weights.append(("holdout", step.holdout))
            branch = state.branches.get(step.experiment) or pick(
                step.experiment, ctx.customer_id, weights
            )
            state = replace(state, branches={**state.branches, step.experiment: branch})
            trail.append((state.step, branch))
            if branch == "holdout":
                return end("holdout")
            go = next(b.next for b in step.branches if b.name == branch)
        elif isinstance(step, SendEmail):
            quiet = quiet_until(now, ctx.time_zone, ctx.quiet_hours)
            if quiet is not None:
                return block(quiet, "deferred:quiet_hours")
            capped = capped_until(now, sends, ctx.frequency_cap)
            if capped is not None:
                return block(capped, "deferred:frequency_cap")
            actions.append(Send(step.message, state.step, state.visit, state.branches))
            sends = (*sends, now)
            go, outcome = step.next, "sent"
        elif isinstance(step, Update):
            actions.append(SetProfile(state.step, step.stage, step.attributes))
            go, outcome = step.next, "updated"
        elif isinstance(step, Goal):
            actions.append(Converted(state.step, step.name))
            trail.append((state.step, "reached"))
            if step.next is None:
                return end("goal")
            go = step.next
        elif isinstance(step, Exit):
            trail.append((state.step, "exit"))
            return end("completed")
        if outcome:
            trail.append((state.step, outcome))
        state = replace(state, step=go, since=now, visit=state.visit + 1)
    raise RuntimeError(f"journey {journey.key}: more than {MAX_STEPS_PER_ADVANCE} steps at once")
