"""The parsed form of a rule: immutable, hashable dataclasses.

``parse_rule`` builds these after checking everything, so the evaluators can
trust them: a field is known, an operator fits its field, a value has the
right type.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from functools import cached_property
from typing import Literal

#: An operator and its number, e.g. ("gte", 2) in {"count": {"gte": 2}}.
Bound = tuple[str, int]
MoneyBound = tuple[str, Decimal]


@dataclass(frozen=True)
class Scalar:
    """A JSON string, number or boolean from a rule.

    Tagged with its JSON type so that 1 and true stay different values (Python
    would call them equal), and numbers are ``Decimal`` so that 1 and 1.0 are
    the same one.
    """

    kind: Literal["string", "number", "boolean"]
    value: str | Decimal | bool


@dataclass(frozen=True)
class DaysAgo:
    """A moment relative to the evaluation's ``now``: {"days_ago": N}."""

    days: int

    def at(self, now: datetime) -> datetime:
        return now - timedelta(days=self.days)


@dataclass(frozen=True)
class JsonTest:
    """One comparison at a path inside a JSON object (attributes or event properties).

    ``value`` is a ``Scalar``, a tuple of them for ``in``, or a bool for ``exists``.
    """

    path: tuple[str, ...]
    op: str
    value: Scalar | tuple[Scalar, ...] | bool


class Rule:
    """A parsed rule. Every node below is one; ``all``/``any``/``not`` hold others."""

    def children(self) -> tuple["Rule", ...]:
        return ()

    def walk(self) -> Iterator["Rule"]:
        """This node and every node inside it."""
        yield self
        for child in self.children():
            yield from child.walk()

    @cached_property
    def event_names(self) -> frozenset[str]:
        """Event names the rule looks at: only events with these names can change it."""
        return frozenset(node.name for node in self.walk() if isinstance(node, EventTest))

    @cached_property
    def max_event_window_days(self) -> int | None:
        """The widest ``within_days`` of the rule's event clauses; None when one of
        them looks at all time. 0 when the rule has no event clause at all."""
        windows = [node.within_days for node in self.walk() if isinstance(node, EventTest)]
        if None in windows:
            return None
        return max(windows, default=0)


@dataclass(frozen=True)
class AllOf(Rule):
    rules: tuple[Rule, ...]

    def children(self) -> tuple[Rule, ...]:
        return self.rules


@dataclass(frozen=True)
class AnyOf(Rule):
    rules: tuple[Rule, ...]

    def children(self) -> tuple[Rule, ...]:
        return self.rules


@dataclass(frozen=True)
class Not(Rule):
    rule: Rule

    def children(self) -> tuple[Rule, ...]:
        return (self.rule,)


@dataclass(frozen=True)
class FieldTest(Rule):
    """A comparison on a Customer column.

    ``value`` matches the field's kind: str, int, Decimal, float, an aware
    datetime or ``DaysAgo``; a tuple of those for ``in``; a bool for ``exists``.
    """

    field: str
    op: str
    value: object


@dataclass(frozen=True)
class AttributeTest(Rule):
    test: JsonTest


@dataclass(frozen=True)
class StageTest(Rule):
    """``stages`` None means any stage; ``entered_within_days`` None means any time."""

    stages: frozenset[str] | None
    entered_within_days: int | None


@dataclass(frozen=True)
class ConsentTest(Rule):
    topic: str
    status: str


@dataclass(frozen=True)
class EventTest(Rule):
    """How many matching events there are (``count``), or what their values add
    up to (``sum``), against every bound in ``bounds``."""

    name: str
    where: tuple[JsonTest, ...]
    within_days: int | None
    measure: Literal["count", "sum"]
    bounds: tuple[Bound, ...] | tuple[MoneyBound, ...]


@dataclass(frozen=True)
class DaysSinceLastPurchase(Rule):
    bounds: tuple[Bound, ...]


def resolve(value: object, now: datetime) -> object:
    """A field test's value at ``now``: ``DaysAgo`` become datetimes."""
    if isinstance(value, DaysAgo):
        return value.at(now)
    if isinstance(value, tuple):
        return tuple(resolve(v, now) for v in value)
    return value


def rule_topics(rule: Rule) -> frozenset[str]:
    """Consent topic keys the rule names; the parser cannot check that they
    exist (it stays free of the database), so callers that save rules do."""
    return frozenset(node.topic for node in rule.walk() if isinstance(node, ConsentTest))
