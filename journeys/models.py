"""Journeys, their immutable versions, and the customers going through them."""

from django.db import models

from config import clock
from customers.models import Customer


class Journey(models.Model):
    """A named journey. Its behaviour lives in versions; ``live_version`` runs."""

    class Status(models.TextChoices):
        #: Being written; enrolls nobody.
        DRAFT = "draft", "Draft"
        #: Enrolls customers and advances them.
        ACTIVE = "active", "Active"
        #: Enrolls nobody; customers already in it wait where they are.
        PAUSED = "paused", "Paused"
        #: Finished for good.
        ARCHIVED = "archived", "Archived"

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    #: The version new customers enter; set when the journey is activated.
    live_version = models.ForeignKey(
        "JourneyVersion", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.name


class JourneyVersion(models.Model):
    """One immutable revision of a journey document.

    Editing a journey that has ever been live writes a new version; customers
    already in it finish on the version they entered.
    """

    journey = models.ForeignKey(Journey, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    document = models.JSONField()
    created_at = models.DateTimeField(default=clock.now, editable=False)
    #: When it went live; event and stage triggers only see what came after.
    activated_at = models.DateTimeField(null=True, blank=True)
    #: Segment triggers: when the segment was last re-evaluated.
    segment_checked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["journey", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["journey", "number"], name="journey_version_number"),
        ]

    def __str__(self) -> str:
        return f"{self.journey.key} v{self.number}"


class Enrollment(models.Model):
    """One customer's way through one journey version.

    Waiting is a row with ``due_at``: the engine's tick picks up what is due,
    so a wait of thirty days costs nothing until it ends and survives restarts.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", "In the journey"
        #: Reached an exit step.
        COMPLETED = "completed", "Completed"
        #: Left early: goal reached, consent withdrawn, suppressed, holdout, left segment.
        EXITED = "exited", "Exited"

    # No single-column indexes on journey and customer: the composite ones below
    # start with them, and every index is rewritten on every advance.
    journey = models.ForeignKey(
        Journey, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    version = models.ForeignKey(
        JourneyVersion, on_delete=models.PROTECT, related_name="enrollments"
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="enrollments", db_index=False
    )
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.ACTIVE)
    step = models.CharField(max_length=64)
    #: When the enrollment arrived on ``step``; waits count from here.
    step_since = models.DateTimeField()
    #: Steps taken so far; with ``step`` it names this visit for the outbox key.
    visit = models.PositiveIntegerField(default=0)
    #: When the engine should look at it next; NULL when it has ended.
    due_at = models.DateTimeField(null=True, blank=True)
    entered_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    exit_reason = models.CharField(max_length=40, blank=True, default="")
    converted_at = models.DateTimeField(null=True, blank=True)
    #: What enrolled it ("event:123", "stage:45", "date:2026", "broadcast"), so
    #: handling the same trigger twice enrolls once.
    trigger_ref = models.CharField(max_length=64)
    #: The branch taken at each split, by experiment key.
    branches = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["journey", "customer"],
                condition=models.Q(status="active"),
                name="one_active_enrollment_per_journey",
            ),
            models.UniqueConstraint(
                fields=["journey", "customer", "trigger_ref"], name="enroll_once_per_trigger"
            ),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(status="active"), name="enrollment_due"
            ),
            models.Index(fields=["customer", "status"]),
        ]

    def __str__(self) -> str:
        return f"{self.customer} in {self.journey.key} at {self.step}"


class StepCount(models.Model):
    """How many enrollments passed a step with an outcome: the funnel and the
    simulation read it. Incremented in bulk by the engine, one row per
    (version, step, outcome), never one row per customer."""

    version = models.ForeignKey(JourneyVersion, on_delete=models.CASCADE, related_name="counts")
    step = models.CharField(max_length=64)
    #: "entered", a branch name, "sent", "then"/"else", "deferred:quiet_hours" …
    outcome = models.CharField(max_length=64)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["version", "step", "outcome"], name="step_count_unique"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.step}/{self.outcome}: {self.count}"
