"""Who Ladder talks to: customers, their consent, suppression, events and stage.

Writes go through ``customers.services``; reads through ``customers.selectors``.
"""

import hashlib

from django.db import models
from django.db.models.functions import Lower

from config import clock


class Stage(models.TextChoices):
    """The loyalty ladder, lowest rung first."""

    #: Known to us, not yet consented or engaged.
    SUSPECT = "suspect", "Suspect"
    #: Consented, or engaged with our emails or site.
    PROSPECT = "prospect", "Prospect"
    #: Bought once.
    CUSTOMER = "customer", "Customer"
    #: Bought twice or more.
    REPEAT = "repeat", "Repeat"
    #: Buys often or is worth a lot.
    LOYAL = "loyal", "Loyal"
    #: Refers, reviews or promotes us.
    ADVOCATE = "advocate", "Advocate"


def address_hash(email: str) -> str:
    """SHA-256 of a normalized address: what the suppression list keeps."""
    return hashlib.sha256(email.encode()).hexdigest()


class Customer(models.Model):
    """One person. ``email`` is stored normalized (lower case, IDNA domain).

    ``email`` and ``external_id`` are NULL only after erasure, or when a customer
    is known by external id alone; the row itself stays so that aggregates
    (stage counts, revenue) survive erasure anonymously.
    """

    email = models.EmailField(max_length=254, unique=True, null=True, blank=True)
    #: address_hash(email), kept in step with it, so that "is this customer
    #: suppressed" is a join against Suppression in SQL, for one or a million.
    email_hash = models.CharField(max_length=64, blank=True, default="", editable=False)
    external_id = models.CharField(max_length=128, unique=True, null=True, blank=True)
    first_name = models.CharField(max_length=150, blank=True, default="")
    last_name = models.CharField(max_length=150, blank=True, default="")
    #: BCP 47 language tag, e.g. "en-GB".
    locale = models.CharField(max_length=35, blank=True, default="")
    #: IANA time zone name; quiet hours and local send times use it.
    time_zone = models.CharField(max_length=64, default="UTC")
    attributes = models.JSONField(default=dict, blank=True)

    stage = models.CharField(max_length=16, choices=Stage.choices, default=Stage.SUSPECT)
    stage_changed_at = models.DateTimeField(default=clock.now)

    # Metrics, filled from events by the feedback loop.
    orders_count = models.PositiveIntegerField(default=0)
    revenue = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    last_purchase_at = models.DateTimeField(null=True, blank=True)
    #: Recency-weighted human opens, clicks and purchases (docs/lifecycle.md).
    engagement_score = models.FloatField(default=0)
    clv = models.DecimalField("CLV", max_digits=14, decimal_places=2, default=0)
    #: CLV's purchase frequency is measured from here.
    first_purchase_at = models.DateTimeField(null=True, blank=True)
    #: Newest open and click by a person (machine opens and clicks never count).
    last_open_at = models.DateTimeField(null=True, blank=True)
    last_click_at = models.DateTimeField(null=True, blank=True)
    #: Emails opened / clicked by a person per email sent and not bounced;
    #: NULL until an email was sent, so "rarely opens" never means "never mailed".
    open_rate = models.FloatField(null=True, blank=True)
    click_rate = models.FloatField(null=True, blank=True)
    #: When a buyer became lapsed (LADDER_LAPSE_DAYS without a purchase); NULL
    #: while they buy, and for those who never bought.
    lapsed_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now)
    #: Set when personal data was erased on request; the row is kept anonymous.
    erased_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [models.Index(fields=["stage"]), models.Index(fields=["email_hash"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(email=Lower("email")), name="customer_email_lowercase"
            ),
        ]

    def __str__(self) -> str:
        return self.email or self.external_id or f"customer #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        self.sync_email_hash()
        super().save(*args, **kwargs)

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    def sync_email_hash(self) -> None:
        """Call after changing ``email`` on objects written with bulk_create/update."""
        self.email_hash = address_hash(self.email) if self.email else ""


class Topic(models.Model):
    """A kind of email a customer can consent to, e.g. ``email_marketing``."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return self.name


class ConsentStatus(models.TextChoices):
    #: May be emailed on this topic.
    GRANTED = "granted", "Granted"
    #: Asked for, waiting for the double opt-in confirmation; may not be emailed.
    PENDING = "pending", "Pending confirmation"
    #: Said no, or took it back; may not be emailed.
    WITHDRAWN = "withdrawn", "Withdrawn"


class ConsentSource(models.TextChoices):
    """How a consent change reached us."""

    API = "api", "HTTP API"
    IMPORT = "import", "CSV import"
    FORM = "form", "Sign-up form"
    ADMIN = "admin", "Admin"
    UNSUBSCRIBE = "unsubscribe", "Unsubscribe link"
    #: The customer clicked the double opt-in confirmation link.
    CONFIRMATION = "confirmation", "Confirmation link"


class Consent(models.Model):
    """The current consent of one customer for one topic.

    Derived state: always equal to the newest ``ConsentRecord`` of the pair,
    kept as a row so that "who may I email" is one indexed join.
    """

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="consents")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    #: Version of the wording the latest change was made under.
    text_version = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["customer", "topic"], name="consent_one_per_topic"),
        ]
        indexes = [models.Index(fields=["topic", "status"])]

    def __str__(self) -> str:
        return f"{self.topic.key}: {self.status}"


class ConsentRecord(models.Model):
    """Append-only proof of every consent change: who, when, how, what they saw."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consent_records")
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=16, choices=ConsentStatus.choices)
    source = models.CharField(max_length=16, choices=ConsentSource.choices)
    #: Who made the change: an API key's name, an admin's username, "customer".
    actor = models.CharField(max_length=150, blank=True, default="")
    #: The exact wording the customer agreed to, or
    text = models.TextField(blank=True, default="")
    #: the version of that wording, when it is kept elsewhere.
    text_version = models.CharField(max_length=64, blank=True, default="")
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.TextField(blank=True, default="")
    recorded_at = models.DateTimeField(default=clock.now)

    class Meta:
        ordering = ["-recorded_at", "-id"]
        indexes = [models.Index(fields=["customer", "topic", "-recorded_at"])]

    def __str__(self) -> str:
        return (
            f"{self.topic_id} {self.status} via {self.source} at {self.recorded_at:%Y-%m-%d %H:%M}"
        )

    def save(self, *args, **kwargs) -> None:
        # History is evidence: rows are written once and never edited in place.
        # Erasure scrubs IP and user agent with a queryset update, on purpose.
        if self.pk is not None:
            raise ValueError("ConsentRecord is append-only; record a new change instead.")
        super().save(*args, **kwargs)


class SuppressionReason(models.TextChoices):
    HARD_BOUNCE = "hard_bounce", "Hard bounce"
    COMPLAINT = "complaint", "Spam complaint"
    #: The provider says the address does not exist or will never accept mail.
    INVALID = "invalid", "Invalid address"
    UNSUBSCRIBE_ALL = "unsubscribe_all", "Unsubscribed from everything"
    MANUAL = "manual", "Added by hand"


class Suppression(models.Model):
    """An address Ladder must never email, kept only as a hash of the address.

    The hash, not the address, is stored so that the entry survives erasure of
    the customer and still blocks a later re-import of the same address.
    """

    address_hash = models.CharField(max_length=64, unique=True)
    reason = models.CharField(max_length=20, choices=SuppressionReason.choices)
    note = models.CharField(max_length=200, blank=True, default="")
    created_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return f"{self.get_reason_display()} ({self.address_hash[:12]}…)"


class Event(models.Model):
    """Something a customer did (purchase, page view, email open …).

    ``idempotency_key`` is unique: the same key sent twice stores one event, so a
    client may retry a batch freely.
    """

    # No index of its own: the (customer, name, occurred_at) index starts with
    # it, and every index is one more write per ingested event.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    name = models.CharField(max_length=100)
    properties = models.JSONField(default=dict, blank=True)
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    #: ISO 4217 code, upper case; set exactly when ``value`` is.
    currency = models.CharField(max_length=3, blank=True, default="")
    occurred_at = models.DateTimeField()
    received_at = models.DateTimeField(default=clock.now)
    #: Unique through Meta.constraints, not unique=True, which on PostgreSQL adds
    #: a second (LIKE) index that no query uses and every insert pays for.
    idempotency_key = models.CharField(max_length=128)
    #: When the journey engine looked at this event (triggers, waits, goals);
    #: NULL means not yet. A column, not a cursor, so an event committed late
    #: by a long transaction is never skipped.
    routed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "name", "occurred_at"]),
            models.Index(fields=["name", "occurred_at"]),
            models.Index(
                fields=["id"], condition=models.Q(routed_at__isnull=True), name="event_unrouted"
            ),
        ]
        constraints = [
            models.UniqueConstraint(fields=["idempotency_key"], name="event_idempotency_key_unique")
        ]

    def __str__(self) -> str:
        return f"{self.name} at {self.occurred_at:%Y-%m-%d %H:%M}"


class StageChange(models.Model):
    """One move on the ladder: from, to, when and why."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="stage_changes")
    #: Empty for the customer's first stage, set when they were created.
    from_stage = models.CharField(max_length=16, choices=Stage.choices, blank=True, default="")
    to_stage = models.CharField(max_length=16, choices=Stage.choices)
    changed_at = models.DateTimeField(default=clock.now)
    cause = models.CharField(max_length=200)
    #: When the journey engine handled this change (stage-entered triggers).
    routed_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-changed_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-changed_at"]),
            models.Index(
                fields=["id"],
                condition=models.Q(routed_at__isnull=True),
                name="stagechange_unrouted",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.from_stage or '∅'} → {self.to_stage} ({self.cause})"


class ApiKey(models.Model):
    """A key for the HTTP API. Only a SHA-256 of the key is stored.

    The key itself is shown once, when it is created in the admin. A fast hash
    is enough: keys are 256 random bits, so there is nothing to brute-force.
    """

    name = models.CharField(max_length=100)
    #: The first characters of the key, so an admin can tell keys apart.
    prefix = models.CharField(max_length=16, editable=False)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=clock.now, editable=False)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class LadderRule(models.Model):
    """The rule that puts a customer on one stage of the loyalty ladder.

    One row per stage above suspect, which is the floor: a customer stands on
    the highest stage whose rule they match, and on suspect when they match
    none (docs/lifecycle.md). The order is the ``Stage`` order, not data: the
    rule language compares stages by it. Rules are edited in the admin and
    checked by ``clean`` with the rule language's parser.
    """

    stage = models.CharField(max_length=16, choices=Stage.choices, unique=True, editable=False)
    rule = models.JSONField(
        help_text="A rule of the rule language (docs/rules.md). Customers who match it, and "
        "no rule of a higher stage, stand on this stage."
    )
    description = models.TextField(blank=True, default="", help_text="The rule in words.")
    updated_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(stage=Stage.SUSPECT), name="ladderrule_not_the_floor"
            ),
        ]

    def __str__(self) -> str:
        return self.get_stage_display()

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from customers.lifecycle.ladder import rule_check

        try:
            rule_check(self.rule)
        except ValidationError as exc:
            raise ValidationError({"rule": exc.messages}) from None


class ChurnEstimate(models.Model):
    """The population's annual churn, measured at the start of each nightly sweep.

    CLV's expected lifespan is 1 / churn when ``LADDER_CLV_LIFESPAN_YEARS`` is
    not set. Rows are kept, one per sweep, so churn can be followed over time.
    """

    measured_at = models.DateTimeField(default=clock.now)
    #: Customers who were buying a year ago: first purchase over a year ago and
    #: a purchase within the last two years.
    cohort = models.PositiveIntegerField()
    #: Of those, customers with no purchase in the last year.
    churned = models.PositiveIntegerField()
    #: The lifespan CLV used: 1 / (churned / cohort) within limits, or the
    #: fallback while the cohort is too small to tell.
    lifespan_years = models.FloatField()

    def __str__(self) -> str:
        return f"{self.lifespan_years:.2f} years ({self.churned}/{self.cohort} churned)"
