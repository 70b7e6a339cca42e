"""Reads over the stage history for reports: how many customers stood on each
stage over time, who moved where, how long they stayed, who lapsed.

Everything is computed in SQL from ``StageChange``, a few statements whatever
the number of customers: running totals and stays are window functions
(``SUM(…) OVER``, ``LEAD``, ``ROW_NUMBER``), medians the middle rows of a
window. Only per-bucket and per-stage results reach Python.

Every customer created through ``customers_upsert`` has a first change ("" →
suspect). Customers made another way (the admin's add form, a bulk load) have
none: they are counted from their ``created_at`` on the stage their first
recorded change left, or the stage they stand on when there is none
(``_entries``). Days, weeks (Monday first) and months are UTC.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import pairwise

from django.db import connection, transaction

from config.fragments import Fragment, param, sql
from customers.models import Customer, Stage, StageChange

#: How a period is cut into buckets.
BUCKETS = ("day", "week", "month")
#: Edges, in days, of the time-in-stage distribution: "< 1 day", "1-7 days" …
STAY_EDGES = (1, 7, 30, 90, 365)


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _moment(at: datetime) -> Fragment:
    return param(connection.ops.adapt_datetimefield_value(at))


def _bucket(column: Fragment, bucket: str) -> Fragment:
    """The first day of the UTC day, week or month ``column`` falls in."""
    if bucket not in BUCKETS:
        raise ValueError(f"bucket must be one of {', '.join(BUCKETS)}, not {bucket!r}")
    if _postgres():
        return sql(f"CAST(date_trunc('{bucket}', (", column, ") AT TIME ZONE 'UTC') AS date)")
    modifiers = {"day": "", "week": ", '-6 days', 'weekday 1'", "month": ", 'start of month'"}
    return sql("date(", column, f"{modifiers[bucket]})")


def _days(since: str, until: Fragment) -> Fragment:
    """Days from ``since`` to ``until``, with fractions."""
    if _postgres():
        return sql("(date_part('epoch', (", until, f") - {since}) / 86400)")
    return sql("(julianday(", until, f") - julianday({since}))")


def _clamped(column: str, start: datetime) -> Fragment:
    """``column``, or ``start`` if earlier: what happened before the period
    falls in its first bucket."""
    return sql(f"CASE WHEN {column} < ", _moment(start), " THEN ", _moment(start),
               f" ELSE {column} END")  # fmt: skip


def _entries() -> str:
    """Every arrival on a stage: the recorded changes, and for customers whose
    first change is not their creation ("" → …) one made up on the stage it
    left (or, with no change, the one they stand on), at ``created_at`` or
    just before that first change if it is earlier. Its id is 0, so it sorts
    before a change at the same instant."""
    changes, customers = StageChange._meta.db_table, Customer._meta.db_table
    return (
        f"SELECT customer_id, from_stage, to_stage, changed_at, id FROM {changes} "
        "UNION ALL "
        "SELECT c.id, '', COALESCE(f.from_stage, c.stage), "
        "CASE WHEN f.changed_at < c.created_at THEN f.changed_at ELSE c.created_at END, 0 "
        f"FROM {customers} c LEFT JOIN (SELECT customer_id, from_stage, changed_at, "
        "ROW_NUMBER() OVER (PARTITION BY customer_id ORDER BY changed_at, id) AS n "
        f"FROM {changes}) f ON f.customer_id = c.id AND f.n = 1 "
        "WHERE f.from_stage IS NULL OR f.from_stage <> ''"
    )


@transaction.atomic
def _rows(statement: Fragment) -> list[tuple]:
    with connection.cursor() as cursor:
        if _postgres():
            # The plans look expensive enough to compile, which costs more
            # (0.2 s) than it saves on statements that sort and count; and
            # the default 4 MB per sort spills a stage history of a few
            # hundred thousand moves to disk.
            cursor.execute("SET LOCAL jit = off")
            cursor.execute("SET LOCAL work_mem = '64MB'")
        cursor.execute(*statement)
        return cursor.fetchall()


def _day(value: date | str) -> date:
    """A bucket as the database gives it: a date (PostgreSQL) or text (SQLite)."""
    return value if isinstance(value, date) else date.fromisoformat(value)


def buckets_between(start: datetime, end: datetime, bucket: str) -> list[date]:
    """The first days of the buckets ``[start, end)`` touches, as the SQL cuts them."""
    day = start.date()
    first = {
        "day": day,
        "week": day - timedelta(days=day.weekday()),
        "month": day.replace(day=1),
    }[bucket]
    found = []
    while datetime.combine(first, datetime.min.time(), start.tzinfo) < end:
        found.append(first)
        if bucket == "month":
            first = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
        else:
            first += timedelta(days=1 if bucket == "day" else 7)
    return found


def stage_counts(*, start: datetime, end: datetime, bucket: str) -> list[tuple[date, dict]]:
    """(first day of bucket, stage -> customers on it at the end of the bucket)
    for each bucket of ``[start, end)``; the last bucket ends at ``end``.

    Each arrival adds one to its stage and takes one from the stage left, in
    the bucket it happened (the first bucket for all before ``start``); a
    running sum per stage turns those into counts.
    """
    flows = sql(
        "SELECT ", _bucket(_clamped("changed_at", start), bucket), " AS b, to_stage AS stage, ",
        "1 AS delta FROM entries WHERE changed_at < ", _moment(end),
        " UNION ALL SELECT ", _bucket(_clamped("changed_at", start), bucket), ", from_stage, -1 ",
        "FROM entries WHERE changed_at < ", _moment(end), " AND from_stage <> ''",
    )  # fmt: skip
    statement = sql(
        f"WITH entries AS ({_entries()}), flows AS (", flows, ") SELECT b, stage, ",
        "CAST(SUM(SUM(delta)) OVER (PARTITION BY stage ORDER BY b) AS bigint) ",
        "FROM flows GROUP BY b, stage",
    )  # fmt: skip
    rows = _rows(statement)
    running = {_day(b): {} for b, _, _ in rows}
    for b, stage, customers in rows:
        running[_day(b)][stage] = customers
    # A stage with no move in a bucket keeps the count it had.
    counts, current = [], dict.fromkeys(Stage.values, 0)
    for day in buckets_between(start, end, bucket):
        current = {**current, **running.get(day, {})}
        counts.append((day, current))
    return counts


def stage_transitions(*, start: datetime, end: datetime) -> dict[tuple[str, str], int]:
    """(from stage, to stage) -> moves in ``[start, end)``; from "" is a new customer."""
    statement = sql(
        f"WITH entries AS ({_entries()}) SELECT from_stage, to_stage, COUNT(*) FROM entries ",
        "WHERE changed_at >= ", _moment(start), " AND changed_at < ", _moment(end),
        " GROUP BY from_stage, to_stage",
    )  # fmt: skip
    rows = _rows(statement)
    return {(from_stage, to_stage): count for from_stage, to_stage, count in rows}


@dataclass(frozen=True)
class Stays:
    """Stays on one stage: each is the time from arriving on it to leaving it."""

    #: Stays that ended in the period (the customer moved on).
    ended: int
    #: Their median length, in days; None when there were none.
    median_days: float | None
    #: How many ended stays were shorter than each edge of ``STAY_EDGES`` and
    #: at least the one before: len(STAY_EDGES) + 1 counts, the last ≥ 365 days.
    distribution: tuple[int, ...]
    #: Customers still on the stage at the end of the period.
    ongoing: int
    #: How long they had been there then (median, days).
    ongoing_median_days: float | None


def time_in_stage(*, start: datetime, end: datetime, now: datetime) -> dict[str, Stays]:
    """Stage -> the stays that ended in ``[start, end)``, and those still going
    at ``min(end, now)``.

    ``LEAD`` pairs each arrival with the customer's next one; the median is the
    middle row (or the mean of the two middle rows) of each stage's stays in
    order, so it is exact on SQLite, which has no percentile function.
    """
    until = min(end, now)
    ended = sql("left_at < ", _moment(until))
    length = _days("changed_at", sql("CASE WHEN ", ended, " THEN left_at ELSE ", _moment(until),
                                     " END"))  # fmt: skip
    shares = [
        sql("COUNT(*) FILTER (WHERE days >= ", param(low), " AND days < ", param(high), ")")
        for low, high in pairwise((0, *STAY_EDGES))
    ]
    shares.append(sql("COUNT(*) FILTER (WHERE days >= ", param(STAY_EDGES[-1]), ")"))
    statement = sql(
        f"WITH entries AS ({_entries()}), ",
        "stays AS (SELECT to_stage AS stage, changed_at, LEAD(changed_at) OVER ",
        "(PARTITION BY customer_id ORDER BY changed_at, id) AS left_at ",
        "FROM entries WHERE changed_at < ", _moment(until), "), ",
        "measured AS (SELECT stage, CASE WHEN ", ended, " THEN 1 ELSE 0 END AS ended, ", length,
        " AS days FROM stays WHERE left_at IS NULL OR left_at >= ", _moment(start), "), ",
        "ranked AS (SELECT stage, ended, days, ",
        "ROW_NUMBER() OVER (PARTITION BY stage, ended ORDER BY days) AS n, ",
        "COUNT(*) OVER (PARTITION BY stage, ended) AS total FROM measured) ",
        "SELECT stage, ended, COUNT(*), ",
        "AVG(CASE WHEN n = (total + 1) / 2 OR n = (total + 2) / 2 THEN days END)",
        *(sql(", ", share) for share in shares),
        " FROM ranked GROUP BY stage, ended",
    )  # fmt: skip
    rows = _rows(statement)
    found: dict[str, dict] = {stage: {} for stage in Stage.values}
    for stage, was_ended, count, median, *distribution in rows:
        found[stage][bool(was_ended)] = (count, float(median), tuple(distribution))
    empty = (0, None, (0,) * (len(STAY_EDGES) + 1))
    return {
        stage: Stays(
            ended=parts.get(True, empty)[0],
            median_days=parts.get(True, empty)[1],
            distribution=parts.get(True, empty)[2],
            ongoing=parts.get(False, empty)[0],
            ongoing_median_days=parts.get(False, empty)[1],
        )
        for stage, parts in found.items()
    }


@dataclass(frozen=True)
class Lapsed:
    #: Stage -> (customers on it now, of whom lapsed now).
    now: dict[str, tuple[int, int]]
    #: (first day of bucket, lapsed in that bucket, lapsed at its end), for
    #: customers still lapsed: a purchase clears ``lapsed_at`` and the lapse
    #: leaves no other trace, so earlier buckets count only who is lapsed still.
    buckets: list[tuple[date, int, int]]


def lapsed_counts(*, start: datetime, end: datetime, bucket: str) -> Lapsed:
    """Lapsed customers now, by stage, and how they lapsed over ``[start, end)``."""
    customers = Customer._meta.db_table
    now_rows = _rows(
        (f"SELECT stage, COUNT(*), COUNT(lapsed_at) FROM {customers} GROUP BY stage", [])
    )
    statement = sql(
        "SELECT b, new, CAST(SUM(lapsed) OVER (ORDER BY b) AS bigint) FROM (",
        "SELECT ", _bucket(_clamped("lapsed_at", start), bucket), " AS b, ",
        "COUNT(*) FILTER (WHERE lapsed_at >= ", _moment(start), ") AS new, COUNT(*) AS lapsed ",
        f"FROM {customers} WHERE lapsed_at < ", _moment(end), " GROUP BY 1) g",
    )  # fmt: skip
    rows = _rows(statement)
    by_bucket = {_day(b): (new, total) for b, new, total in rows}
    buckets, total = [], 0
    for day in buckets_between(start, end, bucket):
        new, total = by_bucket.get(day, (0, total))
        buckets.append((day, new, total))
    counts = {stage: (count, lapsed) for stage, count, lapsed in now_rows}
    return Lapsed(
        now={stage: counts.get(stage, (0, 0)) for stage in Stage.values},
        buckets=buckets,
    )


def stages_ordered(stages: Sequence[str]) -> list[str]:
    """Stage values in ladder order ("" — a new customer — first)."""
    order = {"": -1, **{stage: n for n, stage in enumerate(Stage.values)}}
    return sorted(stages, key=order.__getitem__)
