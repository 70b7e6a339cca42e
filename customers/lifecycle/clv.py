"""Customer lifetime value: the lifespan it assumes, and the CLV of a segment.

Each customer's CLV is stored on the row by ``metrics.metrics_update``:
average order value * purchases per year * expected lifespan in years. The
lifespan is ``LADDER_CLV_LIFESPAN_YEARS`` when set; otherwise it is estimated
from how many customers the population loses in a year (lifespan = 1 / annual
churn), measured at the start of every nightly sweep.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db.models import Avg, Count, Q, QuerySet, Sum

from customers.lifecycle.metrics import DAYS_PER_YEAR
from customers.models import ChurnEstimate, Customer

#: A churn cohort smaller than this says too little; the fallback lifespan is used.
MIN_COHORT = 100
#: The lifespan used until churn can be measured (a new shop has no customers
#: a year old): three years is a common planning figure for retail.
FALLBACK_LIFESPAN_YEARS = 3.0
#: The estimate is capped here: a year with almost no churn would otherwise
#: promise customers for centuries.
MAX_LIFESPAN_YEARS = 10.0


def churn_measure(*, now: datetime) -> ChurnEstimate:
    """Measure annual churn and the lifespan it implies; stores and returns it.

    The cohort is the customers who were buying a year ago: first purchase more
    than a year ago, and a purchase within the last two years (those who
    stopped earlier had churned before this year began). Churn is the share of
    them with no purchase in the last year. One aggregate over the customers.
    """
    year = timedelta(days=DAYS_PER_YEAR)
    counts = Customer.objects.filter(
        erased_at__isnull=True,
        first_purchase_at__lt=now - year,
        last_purchase_at__gte=now - 2 * year,
    ).aggregate(
        cohort=Count("pk"),
        churned=Count("pk", filter=Q(last_purchase_at__lt=now - year)),
    )
    cohort, churned = counts["cohort"], counts["churned"]
    if cohort < MIN_COHORT:
        lifespan = FALLBACK_LIFESPAN_YEARS
    else:
        lifespan = min(MAX_LIFESPAN_YEARS, cohort / churned) if churned else MAX_LIFESPAN_YEARS
    return ChurnEstimate.objects.create(
        measured_at=now, cohort=cohort, churned=churned, lifespan_years=lifespan
    )


def lifespan_years() -> float:
    """The lifespan CLV uses now: the setting, else the latest measurement, else
    the fallback (before the first sweep). One query at most."""
    if settings.LADDER_CLV_LIFESPAN_YEARS:
        return settings.LADDER_CLV_LIFESPAN_YEARS
    latest = (
        ChurnEstimate.objects.order_by("-measured_at", "-id")
        .values_list("lifespan_years", flat=True)
        .first()
    )
    return FALLBACK_LIFESPAN_YEARS if latest is None else latest


@dataclass(frozen=True)
class SegmentClv:
    customers: int
    #: What the segment is expected to be worth over its customers' lifetimes.
    total: Decimal
    #: Per customer: the segment's CLV.
    average: Decimal


def segment_clv(customers: QuerySet[Customer]) -> SegmentClv:
    """The CLV of a segment, e.g. ``Customer.objects.filter(rule_q(rule, now=now))``:
    one aggregate query over the stored per-customer CLVs."""
    totals = customers.aggregate(customers=Count("pk"), total=Sum("clv"), average=Avg("clv"))
    cent = Decimal("0.01")
    return SegmentClv(
        customers=totals["customers"],
        total=Decimal(totals["total"] or 0).quantize(cent),
        average=Decimal(totals["average"] or 0).quantize(cent),
    )
