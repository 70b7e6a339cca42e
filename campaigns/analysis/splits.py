"""Counting a split step's branches: enrollments, their emails, their conversions.

Enrollments say which branch they took (``Enrollment.branches``) and whether
they reached the journey's goal (``converted_at``, set by the engine). Emails
and conversions carry the journey version and the step that sent them. For a
step only one branch leads to — the usual case, each branch sending its own
email — that names the branch, so they are grouped by (version, step). Emails
of a step several branches share (or that a path around the split also
reaches) carry the branches their enrollment had taken when they were queued
(``Delivery.branches``, copied to ``Conversion.branches``), and are grouped by
that. Either way a single pass, with no join.

Rows written before the branch was recorded (campaigns migration 0006) have
NULL there; they are joined to their enrollment's current branch, the way every
shared email was counted before, two to three times as slow. The grouped pass
says whether any exist, so nothing is paid for them once they are gone. The
outbox is not rewritten to fill them in: a migration rewriting every delivery
would hold the table workers send from for the length of it.

Arms are matched in Python after grouping, never in a WHERE clause: the
planner cannot estimate a condition on a JSON value and, guessing it rare,
would look up each of a million deliveries by index.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db import connection
from django.db.models import (
    BooleanField,
    Count,
    ExpressionWrapper,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.fields.json import KeyTextTransform

from campaigns.analysis.aggregate import EMAIL_COUNTS, ArmCounts, email_aggregates
from campaigns.analysis.experiments import Experiment
from campaigns.models import Conversion, Delivery
from journeys.models import Enrollment

Pair = tuple[int, str]


def _pairs(pairs: Iterable[Pair]) -> Q:
    """Rows sent from these (journey version, step) pairs."""
    q = Q(pk__in=[])
    for version, step in pairs:
        q |= Q(journey_version=version, step_key=step)
    return q


def _own_steps(experiment: Experiment, own: dict[Pair, str], by_arm: dict) -> None:
    """Emails and conversions of steps only one branch leads to: two GROUP BYs."""
    emails = Delivery.objects.filter(
        _pairs(own), journey_key=experiment.journey_key, sent_at__isnull=False
    )
    aggregates = email_aggregates()
    for version, step, *counts in (
        emails.values("journey_version", "step_key")
        .annotate(**aggregates)
        .values_list("journey_version", "step_key", *aggregates)
    ):
        by_arm[own[version, step]].add_emails(counts)
    credited = Conversion.objects.filter(_pairs(own), journey_key=experiment.journey_key)
    for version, step, currency, conversions, total in (
        credited.values("journey_version", "step_key", "currency")
        .annotate(n=Count("id"), total=Sum("value"))
        .values_list("journey_version", "step_key", "currency", "n", "total")
    ):
        by_arm[own[version, step]].credit(conversions, currency, total)


def _by_branch(rows: QuerySet, experiment: Experiment, group: tuple, aggregates: dict):
    """(branch, unrecorded, *group, *aggregates) per group of ``rows``, by the
    branch each row carries; ``unrecorded`` rows (NULL: written before the
    branch was recorded) come as one group per ``group`` with no branch."""
    arm = KeyTextTransform(experiment.branch_key, "branches")
    unrecorded = ExpressionWrapper(Q(branches__isnull=True), output_field=BooleanField())
    return (
        rows.annotate(arm=arm, unrecorded=unrecorded)
        .values("arm", "unrecorded", *group)
        .annotate(**aggregates)
        .values_list("arm", "unrecorded", *group, *aggregates)
    )


def _shared_steps(
    experiment: Experiment, enrollments: QuerySet, shared: list[Pair], by_arm: dict
) -> None:
    """Emails of shared steps by the branch their enrollment had taken when each
    was queued (``Delivery.branches``), and their conversions by the copy each
    carries: a GROUP BY each, like a message's. Rows written before the branch
    was recorded are counted by ``_unrecorded``."""
    emails = Delivery.objects.filter(
        _pairs(shared), journey_key=experiment.journey_key, sent_at__isnull=False
    )
    old_emails = old_conversions = False
    for arm, unrecorded, *counts in _by_branch(emails, experiment, (), email_aggregates()):
        old_emails |= unrecorded
        if arm in by_arm and not unrecorded:
            by_arm[arm].add_emails(counts)
    credited = Conversion.objects.filter(_pairs(shared), journey_key=experiment.journey_key)
    totals = {"n": Count("id"), "total": Sum("value")}
    for arm, unrecorded, currency, conversions, total in _by_branch(
        credited, experiment, ("currency",), totals
    ):
        old_conversions |= unrecorded
        if arm in by_arm and not unrecorded:
            by_arm[arm].credit(conversions, currency, total)
    if old_emails:
        _unrecorded_emails(experiment, enrollments, shared, by_arm)
    if old_conversions:
        _unrecorded_conversions(experiment, enrollments, shared, by_arm)


def _unrecorded_emails(
    experiment: Experiment, enrollments: QuerySet, shared: list[Pair], by_arm: dict
) -> None:
    """Emails of shared steps queued before their branch was recorded, joined
    to their enrollment's branch: two to three times as slow per email.

    Raw SQL for the join because a delivery names its enrollment by a plain
    id, not a foreign key; the branch subquery is the ORM's own.
    """
    branches, params = enrollments.values("id", "arm").query.sql_with_params()
    steps: dict[int, list[str]] = defaultdict(list)
    for version, step in shared:
        steps[version].append(step)
    pairs = " OR ".join(
        f"(d.journey_version = %s AND d.step_key IN ({', '.join(['%s'] * len(keys))}))"
        for keys in steps.values()
    )
    quote = connection.ops.quote_name
    columns = ", ".join(f"COUNT(d.{quote(column)})" for column in EMAIL_COUNTS.values())
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT b.arm, COUNT(*), {columns} FROM {quote(Delivery._meta.db_table)} d "
            f"JOIN ({branches}) b ON b.id = d.enrollment_id "
            "WHERE d.journey_key = %s AND d.sent_at IS NOT NULL AND d.branches IS NULL "
            f"AND ({pairs}) GROUP BY b.arm",
            [
                *params,
                experiment.journey_key,
                *(value for version, keys in steps.items() for value in (version, *keys)),
            ],
        )
        for arm, *counts in cursor.fetchall():
            if arm in by_arm:
                by_arm[arm].add_emails(counts)


def _unrecorded_conversions(
    experiment: Experiment, enrollments: QuerySet, shared: list[Pair], by_arm: dict
) -> None:
    """Conversions without a recorded branch (a few per hundred emails) each
    find their enrollment's by primary key."""
    branch = enrollments.filter(pk=OuterRef("enrollment_id")).values("arm")
    credited = Conversion.objects.filter(
        _pairs(shared), journey_key=experiment.journey_key, branches__isnull=True
    ).annotate(arm=Subquery(branch))
    for arm, currency, conversions, total in (
        credited.values("arm", "currency")
        .annotate(n=Count("id"), total=Sum("value"))
        .values_list("arm", "currency", "n", "total")
    ):
        if arm in by_arm:
            by_arm[arm].credit(conversions, currency, total)


def split_counts(experiment: Experiment) -> dict[str, ArmCounts]:
    """Branch name -> counts: one statement, plus two for the steps each branch
    has of its own and two for the shared ones."""
    by_arm = {arm.name: ArmCounts() for arm in experiment.arms}
    enrollments = Enrollment.objects.filter(journey_id=experiment.owner_id).annotate(
        arm=KeyTextTransform(experiment.branch_key, "branches")
    )
    for arm, units, converted in (
        enrollments.values("arm")
        .annotate(units=Count("id"), converted=Count("converted_at"))
        .values_list("arm", "units", "converted")
    ):
        if arm in by_arm:
            by_arm[arm].units, by_arm[arm].converted = units, converted
    own = {pair: arm for pair, arm in experiment.routes.items() if arm in by_arm}
    shared = sorted(pair for pair, arm in experiment.routes.items() if arm is None)
    if own:
        _own_steps(experiment, own, by_arm)
    if shared:
        _shared_steps(experiment, enrollments, shared, by_arm)
    return by_arm
