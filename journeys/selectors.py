"""Reads of journey data for reports: a journey's funnel.

The engine keeps counters, not a log (``StepCount``, one row per version, step
and outcome), so a funnel over a million enrollments is two GROUP BYs: one
over the counters, one over the enrollments for where they stand now.
"""

from collections import Counter
from dataclasses import dataclass

from django.db.models import Count, Sum

from journeys.document import Condition, Split, Step, WaitForEvent
from journeys.entry import spec_of
from journeys.models import Enrollment, Journey, StepCount

#: Outcomes that are not a pass: the enrollment stays on the step and is
#: counted again when it goes on ("deferred:quiet_hours", …).
DEFERRED = "deferred:"


def _outcome_order(step: Step) -> list[str]:
    """The outcomes a step records, in the order a report lists them."""
    if isinstance(step, Condition):
        return ["then", "else"]
    if isinstance(step, Split):
        return [branch.name for branch in step.branches] + ["holdout"]
    if isinstance(step, WaitForEvent):
        return ["event", "timeout"]
    return [
        "sent",
        "deferred:quiet_hours",
        "deferred:frequency_cap",
        "waited",
        "updated",
        "reached",
        "exit",
    ]


def outcomes_ordered(counts: Counter, step: Step) -> dict[str, int]:
    """A step's outcome counts in report order, leaving out those never seen."""
    known = _outcome_order(step)
    # An outcome the step functions gained later still shows, after the known ones.
    rest = sorted(outcome for outcome in counts if outcome not in known)
    return {outcome: counts[outcome] for outcome in known + rest if counts[outcome]}


@dataclass(frozen=True)
class FunnelStep:
    key: str
    #: The step's type in the document: "send_email", "split", "wait" …
    type: str
    #: Times an enrollment went past the step, by any outcome but a deferral
    #: (a loop through the step counts each pass).
    passed: int
    #: Outcome -> count, deferrals included ("sent", "deferred:quiet_hours", …).
    outcomes: dict[str, int]
    #: Enrollments in the journey that stand on the step now.
    waiting: int
    #: Enrollments that ended while on the step, by reason ("completed",
    #: "goal", "holdout", "consent_withdrawn" …).
    ended: dict[str, int]


@dataclass(frozen=True)
class Funnel:
    journey: str
    #: The version counted, or None for all of them.
    version: int | None
    #: Enrollments (a customer who entered twice counts twice).
    entered: int
    #: Enrollments still in the journey.
    active: int
    #: Enrollments that reached the journey's goal.
    converted: int
    #: Why enrollments ended -> how many.
    exits: dict[str, int]
    #: In the order a customer meets them (the newest counted version's), then
    #: steps only older versions had.
    steps: list[FunnelStep]


def journey_funnel(journey: Journey, *, version: int | None = None) -> Funnel:
    """Per step of ``journey`` (one version, or all of them summed by step key):
    how many passed it and how, who waits there, who ended there."""
    versions = list(journey.versions.order_by("-number"))
    if version is not None:
        versions = [v for v in versions if v.number == version]
    counters = StepCount.objects.filter(version__in=versions)
    outcomes: dict[str, Counter] = {}
    summed = counters.values("step", "outcome").annotate(n=Sum("count"))
    for step, outcome, count in summed.values_list("step", "outcome", "n"):
        outcomes.setdefault(step, Counter())[outcome] = count

    enrollments = Enrollment.objects.filter(journey=journey, version__in=versions)
    waiting: Counter = Counter()
    ended: dict[str, Counter] = {}
    entered = converted = 0
    for status, step, reason, count, reached_goal in (
        enrollments.values("status", "step", "exit_reason")
        .annotate(n=Count("id"), converted=Count("converted_at"))
        .values_list("status", "step", "exit_reason", "n", "converted")
    ):
        entered += count
        converted += reached_goal
        if status == Enrollment.Status.ACTIVE:
            waiting[step] += count
        else:
            ended.setdefault(step, Counter())[reason] += count

    steps: dict[str, FunnelStep] = {}
    for counted in versions:  # newest first: its order and its step types win
        spec = spec_of(counted)
        for key in spec.step_order:
            if key in steps:
                continue
            step = spec.steps[key]
            seen = outcomes.get(key, Counter())
            steps[key] = FunnelStep(
                key=key,
                type=step.type,
                passed=sum(n for name, n in seen.items() if not name.startswith(DEFERRED)),
                outcomes=outcomes_ordered(seen, step),
                waiting=waiting[key],
                ended=dict(ended.get(key, Counter()).most_common()),
            )
    exits: Counter = sum(ended.values(), Counter())
    return Funnel(
        journey=journey.key,
        version=version,
        entered=entered,
        active=sum(waiting.values()),
        converted=converted,
        exits=dict(exits.most_common()),
        steps=list(steps.values()),
    )
