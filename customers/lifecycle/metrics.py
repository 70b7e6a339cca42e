"""Customer metrics recomputed from their events, one UPDATE per batch of customers.

Orders, revenue, purchase dates, last open and click, the engagement score,
open and click rates, CLV and lapsing are always recomputed from the events
themselves, never adjusted by the event that just arrived. So a replayed
event, a missed run or a changed setting never leaves a metric wrong: the next
run puts it right, and the per-event path and the nightly sweep agree.

The statement aggregates the batch's events in SQL (an index range on
``(customer, name, occurred_at)``) and rewrites only rows whose values changed.
docs/lifecycle.md gives the formulas with worked numbers.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from config.fragments import Fragment, param, sql
from customers.lifecycle.mail import email_counts
from customers.lifecycle.sql import Batch
from customers.models import Customer, Event

PURCHASE, REFUND, OPENED, CLICKED = "purchase", "refund", "email_opened", "email_clicked"

#: Event -> engagement points it is worth when it happens; points halve every
#: LADDER_ENGAGEMENT_HALF_LIFE_DAYS. A purchase says more than a click, a click
#: more than an open (which privacy proxies make unreliable anyway).
ENGAGEMENT_POINTS = {OPENED: 1.0, CLICKED: 3.0, PURCHASE: 10.0}
#: Events older than this many half-lives are left out of the score: together
#: they could add less than a thousandth of their points.
ENGAGEMENT_HORIZON_HALF_LIVES = 10
#: Every event name a metric reads; other events change no metric.
METRIC_EVENTS = frozenset({PURCHASE, REFUND, OPENED, CLICKED})
#: "Per year" in frequency and lifespan.
DAYS_PER_YEAR = 365
#: Purchase frequency is measured over at least this many days, so that two
#: purchases last week do not read as a hundred a year.
MIN_SPAN_DAYS = 365


@dataclass(frozen=True)
class _Dialect:
    """The pieces of SQL PostgreSQL and SQLite spell differently."""

    postgres: bool

    def moment(self, at: datetime) -> Fragment:
        return param(connection.ops.adapt_datetimefield_value(at))

    def days_before(self, at: datetime, column: str) -> Fragment:
        """Days from ``column`` to ``at``, with fractions."""
        if self.postgres:
            # date_part, not EXTRACT: EXTRACT gives numeric, and POWER on
            # numeric costs a hundred times what it does on double precision.
            return sql(
                "(date_part('epoch', ", self.moment(at), f"::timestamptz - {column}) / 86400)"
            )
        return sql("(julianday(", self.moment(at), f") - julianday({column}))")

    def human(self, column: str) -> str:
        """The event's properties do not say ``"machine": true``."""
        if self.postgres:
            return f"({column} -> 'machine') IS DISTINCT FROM 'true'::jsonb"
        return f"json_type({column}, '$.machine') IS NOT 'true'"

    def plus_days(self, column: str, days: int) -> Fragment:
        if self.postgres:
            return sql(f"{column} + make_interval(days => ", param(days), "::int)")
        return sql(
            "strftime(", param("%Y-%m-%d %H:%M:%f"), f", {column}, ", param(f"+{days} days"), ")"
        )

    def greatest(self, *fragments: Fragment) -> Fragment:
        parts: list[str | Fragment] = ["GREATEST(" if self.postgres else "MAX("]
        for n, fragment in enumerate(fragments):
            parts += [", ", fragment] if n else [fragment]
        return sql(*parts, ")")

    def rounded(self, fragment: Fragment, places: int) -> Fragment:
        """Rounded to ``places``: exact cents for money, and a score or rate that
        reads the same whichever order the database added it up in."""
        if self.postgres:
            return sql("ROUND((", fragment, f")::numeric, {places})")
        return sql("ROUND(", fragment, f", {places})")

    def as_float(self, fragment: Fragment) -> Fragment:
        return sql("CAST(", fragment, " AS double precision)") if self.postgres else fragment

    def differs(self) -> str:
        return "IS DISTINCT FROM" if self.postgres else "IS NOT"


def _aggregates(d: _Dialect, batch: Batch, now: datetime) -> Fragment:
    """Per customer of the batch: what their metric events add up to."""
    half_life = float(settings.LADDER_ENGAGEMENT_HALF_LIFE_DAYS)
    horizon = now - timedelta(days=half_life * ENGAGEMENT_HORIZON_HALF_LIVES)
    human = d.human("e.properties")
    points = sql(
        "(CASE e.name ",
        *(sql("WHEN ", param(n), " THEN ", param(p), " ") for n, p in ENGAGEMENT_POINTS.items()),
        "ELSE 0 END)",
    )
    age = d.greatest(d.days_before(now, "e.occurred_at"), ("0", []))
    decayed = sql(points, " * POWER(0.5, ", age, " / ", param(half_life), ")")
    purchase, refund, opened, clicked = map(param, (PURCHASE, REFUND, OPENED, CLICKED))
    return sql(
        "SELECT e.customer_id, ",
        "COUNT(*) FILTER (WHERE e.name = ", purchase, ") AS orders, ",
        "COALESCE(SUM(e.value) FILTER (WHERE e.name = ", purchase, "), 0) ",
        "- COALESCE(SUM(e.value) FILTER (WHERE e.name = ", refund, "), 0) AS revenue, ",
        "MIN(e.occurred_at) FILTER (WHERE e.name = ", purchase, ") AS first_purchase, ",
        "MAX(e.occurred_at) FILTER (WHERE e.name = ", purchase, ") AS last_purchase, ",
        "MAX(e.occurred_at) FILTER (WHERE e.name = ", opened, f" AND {human}) AS last_open, ",
        "MAX(e.occurred_at) FILTER (WHERE e.name = ", clicked, f" AND {human}) AS last_click, ",
        "SUM(", decayed, ") FILTER (WHERE e.occurred_at >= ", d.moment(horizon), f" AND {human}) ",
        "AS score ",
        f"FROM {Event._meta.db_table} e WHERE ", batch.where("e.customer_id"),
        " AND e.name IN (", purchase, ", ", refund, ", ", opened, ", ", clicked, ") ",
        "GROUP BY e.customer_id",
    )  # fmt: skip


def _columns(d: _Dialect, now: datetime, lifespan_years: float, mail: bool) -> dict[str, Fragment]:
    """Customer column -> its new value, from the aggregates ``a`` and mail counts ``m``."""
    lapse_days = settings.LADDER_LAPSE_DAYS
    # CLV = AOV * orders per year * lifespan. AOV * orders is the revenue, so it
    # is the revenue per year of the span, times the lifespan.
    span = d.greatest(d.days_before(now, "a.first_purchase"), param(float(MIN_SPAN_DAYS)))
    per_year = sql(d.as_float(("a.revenue", [])), " * ", param(DAYS_PER_YEAR), " / ", span)
    clv = d.rounded(sql(per_year, " * ", param(float(lifespan_years))), 2)

    def rate(count: str) -> Fragment:
        if not mail:
            return d.as_float(("NULL", []))
        share = d.as_float(d.rounded((f"1.0 * m.{count} / m.sent", []), 6))
        return sql("CASE WHEN m.sent > 0 THEN ", share, " END")

    return {
        "orders_count": ("COALESCE(a.orders, 0)", []),
        "revenue": d.rounded(("COALESCE(a.revenue, 0)", []), 2),
        "first_purchase_at": ("a.first_purchase", []),
        "last_purchase_at": ("a.last_purchase", []),
        "last_open_at": ("a.last_open", []),
        "last_click_at": ("a.last_click", []),
        "engagement_score": d.as_float(d.rounded(("COALESCE(a.score, 0)", []), 6)),
        "open_rate": rate("opened"),
        "click_rate": rate("clicked"),
        # Refunds beyond purchases would make it negative.
        "clv": sql("CASE WHEN a.orders > 0 THEN ", d.greatest(("0", []), clv), " ELSE 0 END"),
        "lapsed_at": sql(
            "CASE WHEN a.last_purchase <= ",
            d.moment(now - timedelta(days=lapse_days)),
            " THEN ",
            d.plus_days("a.last_purchase", lapse_days),
            " END",
        ),
    }


def metrics_update(*, batch: Batch, now: datetime, lifespan_years: float) -> int:
    """Recompute every metric of the batch's customers at ``now``; returns rows changed.

    One statement, whatever the size of the batch. Rows whose metrics are
    unchanged are not rewritten, which keeps a sweep's writes to what moved.
    """
    d = _Dialect(postgres=connection.vendor == "postgresql")
    counts = email_counts(batch.q("customer_id"))
    mail: Fragment = ("", [])
    if counts is not None:
        mail = sql("LEFT JOIN (", counts.query.sql_with_params(), ") m ON m.customer_id = c.id ")
    columns = _columns(d, now, lifespan_years, mail=counts is not None)
    table = Customer._meta.db_table
    names = list(columns)
    selected: list[str | Fragment] = []
    for name, expression in columns.items():
        selected += [", ", expression, f" AS {name}"]
    statement, params = sql(
        f"UPDATE {table} SET {', '.join(f'{n} = v.{n}' for n in names)} ",
        "FROM (SELECT c.id", *selected, f" FROM {table} c ",
        "LEFT JOIN (", _aggregates(d, batch, now), ") a ON a.customer_id = c.id ",
        mail, "WHERE c.erased_at IS NULL AND ", batch.where("c.id"), ") v ",
        # The batch again, on the table written: the join alone would not tell
        # PostgreSQL to read only the batch's rows of it.
        f"WHERE {table}.id = v.id AND ", batch.where(f"{table}.id"),
        f" AND ({', '.join(f'{table}.{n}' for n in names)}) ",
        f"{d.differs()} ({', '.join(f'v.{n}' for n in names)})",
    )  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.rowcount
