"""Keeping metrics and ladder stages true: after activity, and every night.

Two entry points share one path (lock the customers, recompute their metrics,
recompute their stage, record the moves):

- ``customers_refresh`` for the customers a batch of events or consent changes
  touched. ``events_record`` and ``consents_record`` schedule it with
  ``lifecycle_activity_recorded``; it runs after their transaction commits, in
  a Celery task (in-process on the embedded default). With workers and Redis,
  activity waits a second in Redis so that many commits share one refresh
  (``customers_refresh_pending``; see customers/lifecycle/pending.py).
- ``customers_sweep`` for everyone, in chunks: engagement decays and customers
  lapse with no event at all, and an edited ladder applies to all.

Every ladder move is a ``StageChange`` with its cause, which the journey
engine routes like any other (stage-entered triggers).
"""

from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from threading import Lock

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F, Max, Min

from customers.lifecycle import pending
from customers.lifecycle.clv import churn_measure, lifespan_years
from customers.lifecycle.ladder import CONSENT_CHANGE, Ladder, ladder_load
from customers.lifecycle.metrics import METRIC_EVENTS, metrics_update
from customers.lifecycle.moves import moves_write
from customers.lifecycle.sql import Batch
from customers.models import Customer, Stage, StageChange
from customers.rules.language import STAGES
from customers.signals import activity_recorded

#: What the nightly sweep's moves give as their cause.
SWEEP = "nightly sweep"
#: Room StageChange.cause has.
CAUSE_LENGTH = 200


@dataclass
class LifecycleReport:
    customers: int = 0
    #: Customers whose metrics changed.
    recomputed: int = 0
    #: Customers who moved on the ladder.
    moved: int = 0

    def add(self, other: "LifecycleReport") -> None:
        self.customers += other.customers
        self.recomputed += other.recomputed
        self.moved += other.moved


def lifecycle_activity_recorded(*, activity: Collection[tuple[int, str]]) -> None:
    """Schedule ``customers_refresh`` for ``(customer id, event name or
    CONSENT_CHANGE)`` pairs, to run once the caller's transaction commits.

    Called inside ``events_record`` and ``consents_record``: it only schedules,
    so ingestion pays nothing but the hand-over. ``robust``: the events are
    stored whatever happens to the refresh, and the nightly sweep catches up
    on a refresh that failed.
    """
    if activity:
        pairs = sorted({(customer_id, name) for customer_id, name in activity})
        transaction.on_commit(partial(_refresh_later, pairs), robust=True)


def _refresh_later(pairs: list[tuple[int, str]]) -> None:
    """With workers and Redis, join the refreshes waiting to run together
    (customers/lifecycle/pending.py); otherwise refresh these now."""
    from config.celery import app
    from customers.tasks import lifecycle_refresh, lifecycle_refresh_pending

    url = settings.LADDER_REDIS_URL
    if app.conf.task_always_eager or not url:
        lifecycle_refresh.delay(pairs)
    elif pending.pending_add(url, pairs):
        lifecycle_refresh_pending.apply_async(countdown=settings.LADDER_LIFECYCLE_COALESCE_SECONDS)


def customers_refresh_pending(*, at: datetime, chunk: int = 1000) -> LifecycleReport:
    """Refresh every pair waiting in Redis, ``chunk`` pairs per transaction."""
    from customers.tasks import lifecycle_refresh_pending

    url = settings.LADDER_REDIS_URL
    pending.pending_open(url)
    report = LifecycleReport()
    while pairs := pending.pending_take(url, chunk):
        try:
            report.add(customers_refresh(activity=pairs, at=at))
        except Exception:
            if pending.pending_return(url, pairs):
                lifecycle_refresh_pending.apply_async(
                    countdown=settings.LADDER_LIFECYCLE_COALESCE_SECONDS
                )
            raise
    return report


@transaction.atomic
def customers_refresh(
    *, activity: Sequence[tuple[int, str]], at: datetime, ladder: Ladder | None = None
) -> LifecycleReport:
    """Recompute what ``activity`` can change for the customers it names.

    Metrics for customers with a metric event (purchase, refund, human open or
    click), then their stage; the stage alone for customers whose other
    events or consent change can move them from where they stand
    (``Ladder.can_move``). A fixed number of queries per call.
    """
    ladder = ladder or ladder_load()
    watched = METRIC_EVENTS | ladder.event_names | {CONSENT_CHANGE}
    triggers: dict[int, set[str]] = defaultdict(set)
    for customer_id, name in activity:
        if name in watched:
            triggers[customer_id].add(name)
    if not triggers:
        return LifecycleReport()
    _without_jit()
    locked = _lock(Customer.objects.filter(Batch(ids=tuple(sorted(triggers))).q()))
    metric_ids = tuple(pk for pk, _ in locked if triggers[pk] & METRIC_EVENTS)
    stage_ids = tuple(
        pk
        for pk, stage in locked
        if triggers[pk] & METRIC_EVENTS or ladder.can_move(stage, triggers[pk])
    )
    recomputed = moved = 0
    if metric_ids:
        recomputed = metrics_update(
            batch=Batch(ids=metric_ids), now=at, lifespan_years=lifespan_years()
        )
    if stage_ids:
        moved = _stages_update(
            ladder, Batch(ids=stage_ids), at, lambda pk: ", ".join(sorted(triggers[pk]))
        )
    return LifecycleReport(customers=len(locked), recomputed=recomputed, moved=moved)


def customers_sweep(
    *,
    at: datetime,
    chunk: int | None = None,
    progress: Callable[[int], None] | None = None,
) -> LifecycleReport:
    """Recompute every customer's metrics and stage at ``at``, ``chunk`` ids at a time.

    Each chunk is its own transaction, so locks are short and a crash loses
    one chunk's work, which the next sweep redoes. On PostgreSQL,
    ``LADDER_SWEEP_PARALLELISM`` threads take chunks side by side, each on its
    own connection: the work is in the database, and one connection keeps one
    core busy. Called inside a transaction (tests), or on SQLite (one writer
    at a time), it runs chunk after chunk on the caller's connection.
    ``progress`` is told how many customers each chunk held. Measures churn
    first when CLV's lifespan is estimated rather than set.
    """
    chunk = chunk or settings.LADDER_SWEEP_CHUNK
    ladder = ladder_load()
    lifespan = settings.LADDER_CLV_LIFESPAN_YEARS or churn_measure(now=at).lifespan_years
    bounds = Customer.objects.aggregate(low=Min("pk"), high=Max("pk"))
    report = LifecycleReport()
    if bounds["low"] is None:
        return report
    batches = [
        Batch(id_range=(start, start + chunk))
        for start in range(bounds["low"], bounds["high"] + 1, chunk)
    ]

    told = Lock()  # threads take turns to report progress

    def sweep(share: list[Batch]) -> LifecycleReport:
        done = LifecycleReport()
        for batch in share:
            with transaction.atomic():
                _without_jit()
                locked = _lock(Customer.objects.filter(batch.q()))
                recomputed = metrics_update(batch=batch, now=at, lifespan_years=lifespan)
                moved = _stages_update(ladder, batch, at, lambda pk: SWEEP)
            done.add(LifecycleReport(len(locked), recomputed, moved))
            if progress is not None:
                with told:
                    progress(len(locked))
        return done

    threads = settings.LADDER_SWEEP_PARALLELISM
    if threads < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        report.add(sweep(batches))
        return report

    def sweep_and_close(share: list[Batch]) -> LifecycleReport:
        try:
            return sweep(share)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(threads) as pool:
        for done in pool.map(sweep_and_close, [batches[n::threads] for n in range(threads)]):
            report.add(done)
    return report


def _without_jit() -> None:
    """Turn PostgreSQL's JIT off for this transaction. The ladder's rules make
    plans look expensive enough to compile (tens of milliseconds each time), but
    they run in about as long: compiling cost more than it saved on every batch."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL jit = off")


def _lock(customers) -> list[tuple[int, str]]:
    """Lock the live customers among ``customers``, in id order; their ids and stages.

    The lock makes the recompute see every event committed before it: a
    concurrent refresh of the same customer waits, then reads them all. Id
    order, so two lockers never deadlock. NO KEY UPDATE, so events can still
    be inserted for these customers meanwhile (their foreign key check takes
    a KEY SHARE lock, which this one does not block). Erased customers keep
    the stage and metrics they had.
    """
    return list(
        customers.filter(erased_at__isnull=True)
        .order_by("pk")
        .select_for_update(no_key=True)
        .values_list("pk", "stage")
    )


def _stages_update(
    ladder: Ladder, batch: Batch, at: datetime, trigger: Callable[[int], str]
) -> int:
    """Move the customers whose stage is not the one the ladder gives; returns how many.

    One query finds them (the ladder's rules compiled to one CASE), two
    statements record them.
    """
    rows = (
        Customer.objects.filter(batch.q(), erased_at__isnull=True)
        .annotate(target=ladder.stage_expression(now=at, scope=batch.scope()))
        .exclude(stage=F("target"))
        .values_list("pk", "stage", "target")
    )
    moves = [(pk, old, new, _cause(old, new, trigger(pk))) for pk, old, new in rows]
    if not moves:
        return 0
    moves_write(moves, at=at)
    activity_recorded.send(
        sender=StageChange, kind="stage", customer_ids={move[0] for move in moves}
    )
    return len(moves)


def _cause(old: str, new: str, trigger: str) -> str:
    """Why the ladder moved someone, in words: the rule that now matches (up),
    or the rule that no longer does (down), and what set it off."""
    if STAGES.index(new) > STAGES.index(old):
        why = f"matches the {Stage(new).label} rule"
    else:
        why = f"no longer matches the {Stage(old).label} rule"
    return f"ladder: {why} ({trigger})"[:CAUSE_LENGTH]
