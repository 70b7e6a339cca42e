"""Counting an arm in SQL: what is counted, and a message's variants.

A report over a million deliveries takes a few statements, each a single pass
grouped by arm, never a row in Python, with conditional counts
(``COUNT(opened_at)`` counts the rows that have one). Timestamps rather than
status decide what happened: a delivery that was opened and later bounced
still counts its open.
"""

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, Sum

from campaigns.analysis.experiments import Experiment
from campaigns.models import Conversion, Delivery

#: Per-email counts, by the Delivery column whose presence means it happened.
EMAIL_COUNTS = {
    "delivered": "delivered_at",
    "opened": "opened_at",
    "clicked": "clicked_at",
    "unsubscribed": "unsubscribed_at",
    "complained": "complained_at",
}


@dataclass
class ArmCounts:
    #: Units randomized into the arm that count: emails sent (message
    #: experiments) or enrollments that took the branch (splits).
    units: int = 0
    #: Emails handed to the provider.
    sent: int = 0
    delivered: int = 0
    #: Emails a person opened / clicked at least once (machine activity excluded).
    opened: int = 0
    clicked: int = 0
    unsubscribed: int = 0
    complained: int = 0
    #: Units with at least one conversion.
    converted: int = 0
    #: Goal events credited (a unit may convert more than once).
    conversions: int = 0
    #: Credited value by currency.
    revenue: dict[str, Decimal] = field(default_factory=dict)

    def credit(self, conversions: int, currency: str, total) -> None:
        """Add credited conversions and, if they had a value, their revenue."""
        self.conversions += conversions
        if total is not None:
            self.revenue[currency] = self.revenue.get(currency, 0) + cents(total)

    def add_emails(self, counts: Iterable[int]) -> None:
        """Add (sent, *EMAIL_COUNTS) counts, in ``email_aggregates`` order."""
        for name, value in zip(email_aggregates(), counts, strict=True):
            setattr(self, name, getattr(self, name) + value)


def cents(total) -> Decimal:
    """A sum of money to the cent: SQLite sums decimals as floats (or drops the
    trailing zeros), PostgreSQL as exact numerics."""
    return Decimal(str(total)).quantize(Decimal("0.01"))


def email_aggregates() -> dict:
    """Per-email counts as aggregates: sent, then ``EMAIL_COUNTS`` in order."""
    counts = {name: Count(column) for name, column in EMAIL_COUNTS.items()}
    return {"sent": Count("id"), **counts}


def message_counts(experiment: Experiment) -> dict[str, ArmCounts]:
    """Variant key -> counts: one pass over the message's deliveries, two over
    its conversions (a few per hundred emails)."""
    by_id = {pk: ArmCounts() for pk in experiment.variant_ids.values()}
    sent = Delivery.objects.filter(message_id=experiment.owner_id, sent_at__isnull=False)
    aggregates = email_aggregates()
    rows = sent.values("variant_id").annotate(**aggregates).values_list("variant_id", *aggregates)
    for variant_id, *counts in rows:
        by_id[variant_id].add_emails(counts)
        by_id[variant_id].units = by_id[variant_id].sent

    credited = Conversion.objects.filter(variant_id__in=list(by_id))
    for variant_id, converted in (
        credited.values("variant_id")
        .annotate(converted=Count("delivery_id", distinct=True))
        .values_list("variant_id", "converted")
    ):
        by_id[variant_id].converted = converted
    for variant_id, currency, conversions, total in (
        credited.values("variant_id", "currency")
        .annotate(n=Count("id"), total=Sum("value"))
        .values_list("variant_id", "currency", "n", "total")
    ):
        by_id[variant_id].credit(conversions, currency, total)
    return {key: by_id[pk] for key, pk in experiment.variant_ids.items()}
