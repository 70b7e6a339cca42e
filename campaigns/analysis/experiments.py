"""Which experiments exist, and what their arms are.

Two kinds, named the way ``ab_report`` takes them:

- ``message:<message key>`` — the variants of a message with two or more.
  The unit is the email: each delivery picked a variant by weight.
- ``journey:<journey key>:<split step>`` — the branches of a split step. The
  unit is the enrollment: each one took a branch (``Enrollment.branches``).

Split experiments are read from the journeys' own tables and documents. This
package is a reporting layer over both apps, and DESIGN.md's rule that
campaigns never reaches into journeys' tables is about the sending path; the
reads here are the A/B analysis the design places in campaigns.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.db.models import QuerySet

from campaigns.models import Message
from journeys.document import Journey as JourneySpec
from journeys.document import SendEmail, Split, reach_order
from journeys.entry import spec_of
from journeys.models import Journey


class UnknownExperiment(LookupError):
    """No experiment has this key; the message says what keys look like."""


@dataclass(frozen=True)
class Arm:
    name: str
    #: The configured weight, for the sample-ratio check.
    weight: float


@dataclass(frozen=True)
class Experiment:
    key: str
    #: "message" or "split".
    kind: str
    title: str
    arms: tuple[Arm, ...]
    #: message: the message's id; split: the journey's id.
    owner_id: int
    #: message: variant key -> variant id.
    variant_ids: dict[str, int] | None = None
    #: split: the name the branches are stored under in ``Enrollment.branches``.
    branch_key: str = ""
    #: split: the journey's key, which its deliveries carry.
    journey_key: str = ""
    #: split: (journey version, send step after the split) -> the branch every
    #: enrollment sent from there took, or None when that depends on the
    #: enrollment (several branches, or a path around the split, lead there).
    routes: dict[tuple[int, str], str | None] = field(default_factory=dict)

    @property
    def unit(self) -> str:
        return "email" if self.kind == "message" else "enrollment"


def _message_experiment(message: Message) -> Experiment:
    variants = list(message.variants.all())
    return Experiment(
        key=message.experiment_key,
        kind="message",
        title=message.name,
        arms=tuple(Arm(v.key, float(v.weight)) for v in variants),
        owner_id=message.pk,
        variant_ids={v.key: v.pk for v in variants},
    )


def _routes(spec: JourneySpec, document: dict, split_key: str) -> dict[str, str | None]:
    """Send step after the split -> the one branch that leads there, or None.

    Reachability stops at the split itself (an enrollment coming back to it
    keeps its branch), so a step is a branch's own when only that branch
    reaches it and no path from the start gets there around the split. Then
    its emails need no look-up of the enrollment's branch.
    """
    fenced = {**document["steps"], split_key: {"type": "exit"}}
    around = set(reach_order(spec.start, fenced))
    owners: dict[str, set[str]] = defaultdict(set)
    for branch in spec.steps[split_key].branches:
        for key in reach_order(branch.next, fenced):
            owners[key].add(branch.name)
    return {
        key: next(iter(names)) if len(names) == 1 and key not in around else None
        for key, names in owners.items()
        if isinstance(spec.steps[key], SendEmail)
    }


def _split_experiments(journey: Journey) -> list[Experiment]:
    """One per split step of any version, with the newest version's branches
    and weights, and the routes of every version that has it."""
    found: dict[str, Experiment] = {}
    for version in journey.versions.all():  # newest first (Meta.ordering)
        spec = spec_of(version)
        for step_key, step in spec.steps.items():
            if not isinstance(step, Split):
                continue
            routes = {
                (version.number, key): arm
                for key, arm in _routes(spec, version.document, step_key).items()
            }
            if step_key in found:
                found[step_key] = replace(
                    found[step_key], routes={**found[step_key].routes, **routes}
                )
                continue
            found[step_key] = Experiment(
                key=f"journey:{journey.key}:{step_key}",
                kind="split",
                title=f"{journey.name}, step {step_key}",
                arms=tuple(Arm(b.name, b.weight) for b in step.branches),
                owner_id=journey.pk,
                branch_key=step.experiment,
                journey_key=journey.key,
                routes=routes,
            )
    return list(found.values())


def _message_experiments(messages: QuerySet[Message]) -> list[Experiment]:
    """Those of ``messages`` with two or more variants, by key."""
    messages = messages.prefetch_related("variants").order_by("key")
    return [_message_experiment(m) for m in messages if len(m.variants.all()) >= 2]


def experiments_list() -> list[Experiment]:
    """Every experiment: messages with two or more variants, then split steps."""
    found = _message_experiments(Message.objects.all())
    for journey in Journey.objects.prefetch_related("versions").order_by("key"):
        found += _split_experiments(journey)
    return found


def journey_experiments(journey: Journey) -> list[Experiment]:
    """The journey's split steps, then the multi-variant messages its send
    steps (in any version) send. A message experiment counts every email of
    the message, whichever journey sent it."""
    keys = set().union(*(spec_of(version).messages() for version in journey.versions.all()))
    return _split_experiments(journey) + _message_experiments(Message.objects.filter(key__in=keys))


def experiment_get(key: str) -> Experiment:
    """The experiment named ``key``, or ``UnknownExperiment`` saying why not."""
    kind, _, rest = key.partition(":")
    if kind == "message" and rest:
        message = Message.objects.prefetch_related("variants").filter(key=rest).first()
        if message is None:
            raise UnknownExperiment(f"there is no message {rest!r}")
        if len(message.variants.all()) < 2:
            raise UnknownExperiment(f"message {rest!r} has fewer than two variants")
        return _message_experiment(message)
    journey_key, _, step_key = rest.partition(":")
    if kind == "journey" and journey_key and step_key:
        journey = Journey.objects.filter(key=journey_key).first()
        if journey is None:
            raise UnknownExperiment(f"there is no journey {journey_key!r}")
        for experiment in _split_experiments(journey):
            if experiment.key == key:
                return experiment
        raise UnknownExperiment(f"journey {journey_key!r} has no split step {step_key!r}")
    raise UnknownExperiment(
        f"{key!r} is not an experiment: use message:<message key> or "
        "journey:<journey key>:<split step> (ab_report --list shows them)"
    )
