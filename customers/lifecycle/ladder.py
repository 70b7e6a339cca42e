"""The loyalty ladder as data: loaded from ``LadderRule`` rows, checked with the
rule language, and compiled to one SQL expression that names each customer's stage.

A customer stands on the **highest** stage whose rule they match, and on
suspect (the floor) when they match none. Rules are independent: a prospect
who writes a review matches the advocate rule and goes straight there, and a
loyal customer whose purchases age out of the loyal rule falls to the highest
stage still matching (repeat, say). One answer, whatever the path there.
"""

from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, Q, Value, When

from customers.lifecycle.defaults import DEFAULT_LADDER
from customers.models import LadderRule, Stage, Topic
from customers.rules import Rule, RuleError, parse_rule, rule_q, rule_topics
from customers.rules.nodes import AllOf, AnyOf, ConsentTest, EventTest, Not

#: What a consent change is called among the activity that can move someone.
CONSENT_CHANGE = "consent change"


@dataclass(frozen=True)
class Rung:
    stage: Stage
    rule: Rule


@dataclass(frozen=True)
class Ladder:
    #: Highest stage first: the order in which rules are tried.
    rungs: tuple[Rung, ...]

    @cached_property
    def event_names(self) -> frozenset[str]:
        """Events whose arrival can move someone on the ladder by itself."""
        return frozenset().union(*(rung.rule.event_names for rung in self.rungs))

    @cached_property
    def _unsettled_by(self) -> dict[str, frozenset[str]]:
        """Stage -> the activity that can move someone standing there: what a
        higher rule reads (it may now match), and what could make the stage's
        own rule stop matching. Rules below cannot matter while the stage's
        own rule matches."""
        moving: dict[str, frozenset[str]] = {}
        above: set[str] = set()
        for rung in self.rungs:
            moving[rung.stage] = frozenset(above | _unsettling(rung.rule))
            above |= _read(rung.rule)
        moving[Stage.SUSPECT] = frozenset(above)
        return moving

    def can_move(self, stage: str, activity: set[str]) -> bool:
        """Whether ``activity`` (event names, ``CONSENT_CHANGE``) can move a customer
        who stands on ``stage``, their metrics unchanged.

        Most events cannot: a page view moves a suspect (the prospect rule
        reads it) but nobody above. This keeps the work after a batch of
        events to the customers it can concern. Time passing (windows sliding,
        a stage set by hand) is the nightly sweep's business.
        """
        return bool(activity & self._unsettled_by[stage])

    def stage_expression(self, *, now: datetime, scope: Q | None = None) -> Case:
        """Each customer's stage at ``now``, as SQL: the first rule that matches
        wins. ``scope``: only the customers it selects are asked about (``rule_q``)."""
        return Case(
            *(
                When(rule_q(rung.rule, now=now, scope=scope), then=Value(rung.stage.value))
                for rung in self.rungs
            ),
            default=Value(Stage.SUSPECT.value),
            output_field=CharField(),
        )


def rule_check(document: object) -> Rule:
    """The parsed rule, or ``ValidationError`` saying what is wrong and where.

    Checks what ``parse_rule`` checks, and that every consent topic it names
    exists (the parser stays free of the database, so this is the caller's job).
    """
    try:
        rule = parse_rule(document)
    except RuleError as exc:
        raise ValidationError(str(exc)) from None
    topics = rule_topics(rule)
    unknown = topics - set(Topic.objects.filter(key__in=topics).values_list("key", flat=True))
    if unknown:
        raise ValidationError(f"there is no consent topic {', '.join(sorted(unknown))}")
    return rule


def ladder_load() -> Ladder:
    """The ladder as stored (one query); a stage without a row gets its default rule.

    A stored rule the parser refuses (written around the admin's checks)
    raises ``ValidationError`` naming the stage: moving customers by a rule
    nobody can read would be worse than not moving them.
    """
    stored = dict(LadderRule.objects.values_list("stage", "rule"))
    rungs = []
    for stage in reversed(DEFAULT_LADDER):
        try:
            rule = parse_rule(stored.get(stage, DEFAULT_LADDER[stage][0]))
        except RuleError as exc:
            raise ValidationError(f"the {stage.label} rule of the ladder: {exc}") from None
        rungs.append(Rung(stage, rule))
    return Ladder(tuple(rungs))


def _read(rule: Rule) -> set[str]:
    """The activity a rule reads: its event names, and consent changes."""
    return set(rule.event_names) | ({CONSENT_CHANGE} if rule_topics(rule) else set())


def _unsettling(rule: Rule) -> set[str]:
    """The activity that could make ``rule`` stop matching. Events it only
    needs "at least so many" of cannot: more of them keep it matching. Events
    it bounds from above, sums (a value may be negative) or reads under a
    ``not`` can, and so can any consent change when it reads consent."""
    found: set[str] = set()

    def walk(node: Rule, positive: bool) -> None:
        match node:
            case Not(rule=inner):
                walk(inner, not positive)
            case AllOf(rules=rules) | AnyOf(rules=rules):
                for child in rules:
                    walk(child, positive)
            case EventTest(name=name, measure=measure, bounds=bounds):
                more_is_fine = measure == "count" and all(op in ("gt", "gte") for op, _ in bounds)
                if not (positive and more_is_fine):
                    found.add(name)
            case ConsentTest():
                found.add(CONSENT_CHANGE)

    walk(rule, True)
    return found
