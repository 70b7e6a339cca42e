"""Journey documents: JSON in, typed and validated journey definitions out.

``parse_journey`` checks a document without touching the database: the JSON
Schema first (shape and types), then the graph (every ``next`` resolves, every
step is reachable, no loop can spin without a wait, split weights add up, every
rule parses). ``journey_reference_errors`` adds the checks that need the
database (messages and topics exist). Every problem names its step.
"""

import re
from dataclasses import dataclass, field
from datetime import time, timedelta
from typing import Any

from jsonschema import Draft202012Validator

from customers.rules import Rule, RuleError, parse_rule, rule_topics
from journeys.schema import JOURNEY_SHAPE_SCHEMA

#: Duration units accepted in "3d", "12h", "30m", "2w".
DURATION_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: Step types that let time pass; a loop must contain one of them.
WAITING_TYPES = frozenset({"wait", "wait_for_event"})
#: How long after an email its journey's goal event is credited to it, unless the
#: document says otherwise: most purchases an email prompts follow within days,
#: and a longer window credits emails with purchases that would have happened anyway.
DEFAULT_ATTRIBUTION_WINDOW = timedelta(days=5)

_validator = Draft202012Validator(JOURNEY_SHAPE_SCHEMA)


class JourneyInvalid(ValueError):
    """The document is not a valid journey; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


# --- Typed journey ----------------------------------------------------------


@dataclass(frozen=True)
class EventMatch:
    """An event name with an optional property filter, as a one-event rule."""

    name: str
    rule: Rule


@dataclass(frozen=True)
class LocalTimeWindow:
    """A local time of day, optionally only on some weekdays (0 = Monday)."""

    at: time
    weekdays: frozenset[int] = frozenset(range(7))


@dataclass(frozen=True)
class Wait:
    next: str
    duration: timedelta | None = None
    until: LocalTimeWindow | None = None
    type: str = "wait"


@dataclass(frozen=True)
class WaitForEvent:
    event: EventMatch
    timeout: timedelta
    next: str
    timeout_next: str
    type: str = "wait_for_event"


@dataclass(frozen=True)
class Condition:
    rule: Rule
    then: str
    otherwise: str
    type: str = "condition"


@dataclass(frozen=True)
class Branch:
    name: str
    weight: float
    next: str


@dataclass(frozen=True)
class Split:
    experiment: str
    branches: tuple[Branch, ...]
    #: Share (percent) of customers held out: they leave the journey and get nothing.
    holdout: float = 0.0
    type: str = "split"


@dataclass(frozen=True)
class SendEmail:
    message: str
    next: str
    type: str = "send_email"


@dataclass(frozen=True)
class Update:
    next: str
    stage: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    type: str = "update"


@dataclass(frozen=True)
class Goal:
    name: str
    next: str | None = None
    type: str = "goal"


@dataclass(frozen=True)
class Exit:
    type: str = "exit"


Step = Wait | WaitForEvent | Condition | Split | SendEmail | Update | Goal | Exit


@dataclass(frozen=True)
class Trigger:
    #: stage_entered | event | segment | date | broadcast
    type: str
    stage: str | None = None
    event: EventMatch | None = None
    rule: Rule | None = None
    every: timedelta | None = None
    exit_on_leave: bool = False
    attribute: str | None = None
    local_time: time | None = None


@dataclass(frozen=True)
class FrequencyCap:
    per_day: int | None
    per_week: int | None


@dataclass(frozen=True)
class QuietHours:
    start: time
    end: time


@dataclass(frozen=True)
class Journey:
    key: str
    name: str
    topic: str
    trigger: Trigger
    start: str
    steps: dict[str, Step]
    entry_rule: Rule | None = None
    #: "never", "after_exit", or "after_days" with reentry_days.
    reentry: str = "never"
    reentry_days: int | None = None
    goal: EventMatch | None = None
    #: A goal event this long after an email counts as that email's conversion.
    attribution_window: timedelta = DEFAULT_ATTRIBUTION_WINDOW
    #: None: the site-wide setting applies.
    frequency_cap: FrequencyCap | None = None
    #: None: the site-wide setting; QuietHours(start == end) disables them.
    quiet_hours: QuietHours | None = None
    description: str = ""
    #: Step keys in the order a customer can reach them from ``start``.
    step_order: tuple[str, ...] = ()

    def messages(self) -> set[str]:
        return {s.message for s in self.steps.values() if isinstance(s, SendEmail)}

    def condition_rules(self) -> list[Rule]:
        return [s.rule for s in self.steps.values() if isinstance(s, Condition)]

    def awaited_event_names(self) -> set[str]:
        """Events whose arrival may move an enrollment on: waits and the goal."""
        names = {s.event.name for s in self.steps.values() if isinstance(s, WaitForEvent)}
        return names | ({self.goal.name} if self.goal else set())

    def rules(self) -> list[Rule]:
        """Every rule in the journey, for callers that need their event names or topics."""
        found = [r for r in (self.entry_rule, self.trigger.rule) if r is not None]
        return found + self.condition_rules()


# --- Parsing ----------------------------------------------------------------


def parse_duration(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)\s*([mhdw])", text.strip())
    if not match:
        raise ValueError(f"duration {text!r} is not like '30m', '12h', '3d' or '2w'")
    return timedelta(**{DURATION_UNITS[match[2]]: int(match[1])})


def _parse_time(text: str) -> time:
    match = re.fullmatch(r"([01]\d|2[0-3]):([0-5]\d)", text)
    if not match:
        raise ValueError(f"time {text!r} is not HH:MM (24-hour)")
    return time(int(match[1]), int(match[2]))


def _event_match(data: dict[str, Any]) -> EventMatch:
    rule = {"event": {"name": data["event"], "where": data.get("where", [])}}
    return EventMatch(name=data["event"], rule=parse_rule(rule))


def _parse_step(key: str, data: dict[str, Any], journey_key: str) -> Step:
    kind = data["type"]
    if kind == "wait":
        if ("duration" in data) == ("until" in data):
            raise ValueError("a wait needs exactly one of 'duration' or 'until'")
        until = None
        if "until" in data:
            days = data["until"].get("weekdays", WEEKDAYS)
            until = LocalTimeWindow(
                at=_parse_time(data["until"]["local_time"]),
                weekdays=frozenset(WEEKDAYS.index(d) for d in days),
            )
        duration = parse_duration(data["duration"]) if "duration" in data else None
        return Wait(next=data["next"], duration=duration, until=until)
    if kind == "wait_for_event":
        return WaitForEvent(
            event=_event_match(data),
            timeout=parse_duration(data["timeout"]),
            next=data["next"],
            timeout_next=data["timeout_next"],
        )
    if kind == "condition":
        return Condition(rule=parse_rule(data["rule"]), then=data["then"], otherwise=data["else"])
    if kind == "split":
        branches = tuple(Branch(b["name"], float(b["weight"]), b["next"]) for b in data["branches"])
        holdout = float(data.get("holdout", 0))
        total = sum(b.weight for b in branches) + holdout
        if abs(total - 100) > 1e-9:
            raise ValueError(f"branch weights plus holdout add up to {total:g}, not 100")
        names = [b.name for b in branches]
        if len(set(names)) != len(names):
            raise ValueError("branch names must be unique")
        return Split(
            experiment=data.get("experiment", f"{journey_key}:{key}"),
            branches=branches,
            holdout=holdout,
        )
    if kind == "send_email":
        return SendEmail(message=data["message"], next=data["next"])
    if kind == "update":
        if "stage" not in data and "attributes" not in data:
            raise ValueError("an update needs 'stage', 'attributes' or both")
        return Update(
            next=data["next"], stage=data.get("stage"), attributes=data.get("attributes", {})
        )
    if kind == "goal":
        return Goal(name=data.get("name", key), next=data.get("next"))
    return Exit()


def _parse_trigger(data: dict[str, Any]) -> Trigger:
    kind = data["type"]
    if kind == "stage_entered":
        return Trigger(kind, stage=data["stage"])
    if kind == "event":
        return Trigger(kind, event=_event_match(data))
    if kind == "segment":
        return Trigger(
            kind,
            rule=parse_rule(data["rule"]),
            every=parse_duration(data.get("every", "1h")),
            exit_on_leave=data.get("exit_on_leave", False),
        )
    if kind == "date":
        return Trigger(
            kind, attribute=data["attribute"], local_time=_parse_time(data["local_time"])
        )
    return Trigger(kind, rule=parse_rule(data["rule"]) if "rule" in data else None)


def _schema_problems(document: Any) -> list[str]:
    problems = []
    for error in sorted(_validator.iter_errors(document), key=lambda e: list(e.path)):
        where = ".".join(str(p) for p in error.path) or "journey"
        problems.append(f"{where}: {error.message}")
    return problems


def parse_journey(document: Any) -> Journey:
    """A validated ``Journey``, or ``JourneyInvalid`` listing every problem."""
    problems = _schema_problems(document)
    if problems:
        raise JourneyInvalid(problems)

    steps: dict[str, Step] = {}
    for key, data in document["steps"].items():
        try:
            steps[key] = _parse_step(key, data, document["key"])
        except (ValueError, RuleError) as exc:
            problems.append(f"steps.{key}: {exc}")

    def parsed(where: str, parse, data):
        try:
            return parse(data)
        except (ValueError, RuleError) as exc:
            problems.append(f"{where}: {exc}")
            return None

    trigger = parsed("trigger", _parse_trigger, document["trigger"])
    entry_rule = (
        parsed("entry_rule", parse_rule, document["entry_rule"])
        if "entry_rule" in document
        else None
    )
    goal = parsed("goal", _event_match, document["goal"]) if "goal" in document else None
    window = document.get("attribution_window")
    if window is not None and "goal" not in document:
        problems.append("attribution_window: only a journey with a goal has conversions to credit")
    reentry = document.get("reentry", "never")
    problems += _graph_problems(document["start"], document["steps"])
    if problems:
        raise JourneyInvalid(problems)

    cap = document.get("frequency_cap")
    quiet = document.get("quiet_hours", "default")
    return Journey(
        key=document["key"],
        name=document["name"],
        description=document.get("description", ""),
        step_order=tuple(reach_order(document["start"], document["steps"])),
        topic=document.get("topic", "email_marketing"),
        trigger=trigger,
        start=document["start"],
        steps=steps,
        entry_rule=entry_rule,
        reentry="after_days" if isinstance(reentry, dict) else reentry,
        reentry_days=reentry["after_days"] if isinstance(reentry, dict) else None,
        goal=goal,
        attribution_window=(
            parse_duration(window) if window is not None else DEFAULT_ATTRIBUTION_WINDOW
        ),
        frequency_cap=FrequencyCap(cap.get("per_day"), cap.get("per_week")) if cap else None,
        quiet_hours=(
            None
            if quiet == "default"
            else QuietHours(time(0), time(0))
            if quiet is None
            else QuietHours(_parse_time(quiet["start"]), _parse_time(quiet["end"]))
        ),
    )


# --- The graph --------------------------------------------------------------


def _successors(step: dict[str, Any]) -> list[str]:
    """The steps a raw (schema-valid) step can lead to."""
    kind = step["type"]
    if kind == "condition":
        return [step["then"], step["else"]]
    if kind == "split":
        return [branch["next"] for branch in step["branches"]]
    if kind == "wait_for_event":
        return [step["next"], step["timeout_next"]]
    return [step["next"]] if "next" in step else []


def reach_order(start: str, steps: dict[str, dict[str, Any]]) -> list[str]:
    """Step keys reachable from ``start``, breadth first: the funnel's order."""
    order = [start]
    for key in order:
        order += [target for target in _successors(steps[key]) if target not in order]
    return order


def _graph_problems(start: str, steps: dict[str, dict[str, Any]]) -> list[str]:
    """Checked on the raw document, so a step that failed to parse still counts."""
    problems = []
    if start not in steps:
        problems.append(f"start: there is no step {start!r}")
    for key, step in steps.items():
        for target in _successors(step):
            if target not in steps:
                problems.append(f"steps.{key}: 'next' points to {target!r}, which is not a step")
    if problems:
        return problems

    reachable = reach_order(start, steps)
    problems += [
        f"steps.{key}: unreachable from the start step {start!r}"
        for key in steps
        if key not in reachable
    ]
    cycle = _cycle_without_wait(steps, order=reachable + sorted(set(steps) - set(reachable)))
    if cycle:
        problems.append(
            f"steps.{cycle[0]}: loop with no wait in it ({' → '.join([*cycle, cycle[0]])}); "
            "it would run forever in an instant"
        )
    return problems


def _cycle_without_wait(steps: dict[str, dict[str, Any]], order: list[str]) -> list[str] | None:
    """A cycle through steps none of which waits, found by depth-first search
    from the steps in ``order``, so it is named where a customer first meets it."""
    instant = {k for k, s in steps.items() if s["type"] not in WAITING_TYPES}
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(key: str) -> list[str] | None:
        state[key] = 1
        path.append(key)
        for target in _successors(steps[key]):
            if target not in instant:
                continue
            if state.get(target) == 1:
                return path[path.index(target) :]
            if target not in state and (found := visit(target)):
                return found
        path.pop()
        state[key] = 2
        return None

    for key in order:
        if key in instant and key not in state and (found := visit(key)):
            return found
    return None


def journey_reference_errors(
    journey: Journey, *, messages: set[str], topics: set[str]
) -> list[str]:
    """Problems only the database can reveal: messages and topics that do not exist."""
    problems = []
    if journey.topic not in topics:
        problems.append(f"topic: there is no consent topic {journey.topic!r}")
    for key, step in journey.steps.items():
        if isinstance(step, SendEmail) and step.message not in messages:
            problems.append(f"steps.{key}: there is no message {step.message!r}")
    for rule in journey.rules():
        problems += [
            f"rules: there is no consent topic {topic!r}"
            for topic in sorted(rule_topics(rule) - topics)
        ]
    return problems
