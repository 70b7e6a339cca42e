"""What is said and what was sent: messages, their variants, and deliveries (the outbox)."""

from django.core.exceptions import ValidationError
from django.db import models

from config import clock
from customers.models import Customer, Event, Topic


class Message(models.Model):
    """An email a journey can send; each send picks one of its variants."""

    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    #: The consent this message needs; customers without it never get it.
    topic = models.ForeignKey(Topic, on_delete=models.PROTECT, related_name="messages")
    #: One of ``settings.LADDER_SENDERS`` (addresses the provider has verified);
    #: blank means the first of them.
    sender = models.CharField(
        max_length=254,
        blank=True,
        default="",
        help_text="From address; one of the verified senders (LADDER_SENDERS). "
        "Blank: the first of them.",
    )
    reply_to = models.EmailField(
        blank=True, default="", help_text="Where replies go, when not to the sender."
    )
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now)

    def __str__(self) -> str:
        return self.name

    @property
    def experiment_key(self) -> str:
        """The A/B experiment its variants form."""
        return f"message:{self.key}"

    def clean(self) -> None:
        from campaigns.senders import SenderNotVerified, sender_for

        try:
            sender_for(self.sender)
        except SenderNotVerified as exc:
            raise ValidationError({"sender": str(exc)}) from None


class Variant(models.Model):
    """One version of a message. Customers are split across variants by weight."""

    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="variants")
    key = models.CharField(max_length=32, help_text="Short name, e.g. A, B, short-subject")
    weight = models.PositiveIntegerField(default=1)
    subject = models.CharField(max_length=300)
    preheader = models.CharField(max_length=300, blank=True, default="")
    html_body = models.TextField()
    text_body = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["message", "key"]
        constraints = [
            models.UniqueConstraint(fields=["message", "key"], name="variant_key_per_message"),
        ]

    def __str__(self) -> str:
        return f"{self.message.key}/{self.key}"


class Delivery(models.Model):
    """One email to one customer: the outbox row a send step writes.

    The journey engine writes it in the same transaction that advances the
    enrollment; the unique (enrollment, step, visit) makes a second row for the
    same step visit impossible, whatever retries or duplicated tasks do.
    """

    class Status(models.TextChoices):
        #: Written by a send step; waiting for a delivery worker.
        #: Written by a send step, or waiting for its next attempt (``next_attempt_at``).
        QUEUED = "queued", "Queued"
        #: Being handed to the provider right now.
        SENDING = "sending", "Sending"
        #: The provider accepted it.
        SENT = "sent", "Sent"
        #: The provider reports it reached the recipient's mail server (webhook).
        DELIVERED = "delivered", "Delivered"
        #: The recipient's server refused it, or it came back (webhook).
        BOUNCED = "bounced", "Bounced"
        #: Not sent on purpose at send time (no consent, suppressed, capped); see ``error``.
        SKIPPED = "skipped", "Skipped"
        #: Refused for good (invalid address, rejected, retries used up); see ``error``.
        FAILED = "failed", "Failed"
        #: A worker died mid-send: the provider may or may not have it. Never re-sent blindly.
        UNKNOWN = "unknown", "Unknown"

    # Indexed by (customer, queued_at) below, which also serves the foreign key.
    customer = models.ForeignKey(
        Customer, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    message = models.ForeignKey(Message, on_delete=models.PROTECT, related_name="deliveries")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    #: Where it came from. Plain values, not foreign keys: campaigns never
    #: reaches into journeys' tables.
    journey_key = models.CharField(max_length=64, blank=True, default="")
    journey_version = models.PositiveIntegerField(null=True, blank=True)
    enrollment_id = models.BigIntegerField(null=True, blank=True)
    step_key = models.CharField(max_length=64, blank=True, default="")
    visit = models.PositiveIntegerField(default=0)
    #: The branch the enrollment had taken at each split when this email was
    #: queued (split experiment key -> branch; ``{}`` before any split), so a
    #: split's report groups emails by it without joining the enrollments.
    #: NULL on rows queued before it was recorded (migration 0006): the report
    #: looks those up on the enrollment.
    branches = models.JSONField(null=True, blank=True)
    queued_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(default=clock.now)

    # Dispatch (campaigns.dispatch). A claimed row keeps status QUEUED with a
    # lease: if its worker dies before handing it over, the lease runs out and
    # another worker takes it. Only the rows of the chunk being handed over are
    # SENDING, so a crash leaves at most one chunk UNKNOWN.
    attempts = models.PositiveSmallIntegerField(default=0, db_default=0)
    #: A retry waits until then; null means as soon as possible.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    #: When the row became SENDING; a SENDING row much older than this is UNKNOWN.
    handed_at = models.DateTimeField(null=True, blank=True)
    #: The provider's id for the message, which its webhooks name.
    provider_message_id = models.CharField(max_length=255, blank=True, default="", db_default="")
    #: Why it was skipped, failed, retried or became unknown, for people to read.
    error = models.TextField(blank=True, default="", db_default="")

    # What came back (campaigns.tracking). Machine activity (security scanners,
    # mail privacy prefetch) is kept apart so that open and click rates count people.
    #: When the provider accepted the email; set by dispatch together with SENT.
    #: Tracking measures "too soon after sending to be a person" from here.
    sent_at = models.DateTimeField(null=True, blank=True)
    #: First open that was not a probable prefetch; ``open_count`` counts such opens.
    opened_at = models.DateTimeField(null=True, blank=True)
    # Counters have a database default too: the outbox is written with raw
    # inserts (config.db.bulk_insert) that name only the columns they fill.
    open_count = models.PositiveIntegerField(default=0, db_default=0)
    #: First open so soon after sending that a machine fetched the pixel.
    machine_opened_at = models.DateTimeField(null=True, blank=True)
    #: First human click and the number of human clicks, derived from ``DeliveryClick``.
    clicked_at = models.DateTimeField(null=True, blank=True)
    click_count = models.PositiveIntegerField(default=0, db_default=0)
    #: First unsubscribe through this email's link (one topic or everything).
    unsubscribed_at = models.DateTimeField(null=True, blank=True)
    # Provider webhooks (campaigns.webhooks): first time each was reported.
    delivered_at = models.DateTimeField(null=True, blank=True)
    bounced_at = models.DateTimeField(null=True, blank=True)
    complained_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["enrollment_id", "step_key", "visit"],
                condition=models.Q(enrollment_id__isnull=False),
                name="delivery_once_per_step_visit",
            ),
        ]
        indexes = [
            # Only rows still in play, so they stay small however large the
            # table grows. The claim's "queued, oldest first" reads the first:
            # planned on the primary key instead, it walked past every row
            # already sent (50 ms a claim at 100,000 rows). The second serves the
            # recovery of stuck "sending" rows and the admin's "unknown" warning.
            models.Index(
                fields=["id"], condition=models.Q(status="queued"), name="delivery_queued"
            ),
            models.Index(
                fields=["status", "handed_at"],
                condition=models.Q(status__in=["sending", "unknown"]),
                name="delivery_in_doubt",
            ),
            models.Index(fields=["customer", "queued_at"]),
            models.Index(
                fields=["provider_message_id"],
                condition=~models.Q(provider_message_id=""),
                name="delivery_provider_message_id",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.message.key} to customer #{self.customer_id} ({self.status})"


class VariantLink(models.Model):
    """A link target of a variant: the click redirect sends people only here.

    The click token names a delivery and one of these rows; the target is read
    from this table, never from the request, so the redirect cannot be turned
    into an open redirect. Rows are per variant, not per delivery: every
    customer who gets the variant shares them, so a send of 100,000 emails with
    ten links stores ten rows (plus one per personalised URL).
    """

    # The unique (variant, url_hash) below also serves the foreign key.
    variant = models.ForeignKey(
        Variant, on_delete=models.CASCADE, related_name="links", db_index=False
    )
    #: SHA-256 of ``url``: URLs can outgrow what a unique B-tree index accepts.
    url_hash = models.CharField(max_length=64)
    url = models.TextField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["variant", "url_hash"], name="variant_link_once"),
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryClick(models.Model):
    """One click on a tracked link: the log the machine-click heuristics read.

    ``Delivery.clicked_at`` and ``click_count`` are derived from the rows with
    ``machine=False``; a scanner burst found later flags earlier rows too.
    No IP or user agent: nothing here identifies the person.
    """

    # Indexed by (delivery, at) below, which also serves the foreign key.
    delivery = models.ForeignKey(
        Delivery, on_delete=models.CASCADE, related_name="clicks", db_index=False
    )
    link = models.ForeignKey(VariantLink, on_delete=models.CASCADE, related_name="+")
    at = models.DateTimeField(default=clock.now)
    #: A link scanner or prefetcher, not a person (see campaigns.tracking).
    machine = models.BooleanField(default=False)

    class Meta:
        indexes = [models.Index(fields=["delivery", "at"])]

    def __str__(self) -> str:
        return f"delivery #{self.delivery_id} link #{self.link_id} at {self.at:%Y-%m-%d %H:%M:%S}"


class ProviderEvent(models.Model):
    """A provider webhook event already applied: replays and duplicates stop here.

    Providers deliver webhooks at least once, and retry on any error, so the
    same event id arriving twice is normal and must change nothing the second
    time.
    """

    provider = models.CharField(max_length=40)
    event_id = models.CharField(max_length=255)
    received_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "event_id"], name="provider_event_once"),
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_id}"


class Conversion(models.Model):
    """A journey's goal event credited to the last email that touched it.

    Written by ``campaigns.analysis.attribution`` when the engine routes the
    event. Unique on the event: whatever retries, duplicated tasks or competing
    journeys do, one purchase is credited once.
    """

    # A one-to-one, not a unique constraint on a plain foreign key: the unique
    # index is the one that serves the relation, and what routing conflicts on.
    event = models.OneToOneField(Event, on_delete=models.CASCADE, related_name="+")
    delivery = models.ForeignKey(Delivery, on_delete=models.CASCADE, related_name="conversions")
    # Copied from the delivery, which never changes them after queueing, so a
    # report groups a few thousand conversions by variant or branch without
    # joining a million deliveries.
    variant = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    journey_key = models.CharField(max_length=64, blank=True, default="")
    journey_version = models.PositiveIntegerField(null=True, blank=True)
    step_key = models.CharField(max_length=64, blank=True, default="")
    enrollment_id = models.BigIntegerField(null=True, blank=True)
    #: The delivery's ``branches``; NULL where the delivery's is.
    branches = models.JSONField(null=True, blank=True)
    #: The event's value and currency when it was credited: revenue per variant.
    value = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    currency = models.CharField(max_length=3, blank=True, default="")
    #: When the customer converted (the event's ``occurred_at``).
    occurred_at = models.DateTimeField()
    credited_at = models.DateTimeField(default=clock.now)

    class Meta:
        # A split's report reads the conversions of one journey's steps.
        indexes = [models.Index(fields=["journey_key", "step_key"])]

    def __str__(self) -> str:
        return f"event #{self.event_id} credited to delivery #{self.delivery_id}"
