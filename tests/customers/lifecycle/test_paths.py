"""When the loop runs: after events and consent changes (per batch), and in the
nightly sweep; both give the same answer, in a fixed number of queries."""

import random
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection

from config import clock
from customers.models import ConsentSource, Customer, Stage, StageChange
from customers.services.consent import ConsentChange, ConsentProof, consents_record
from customers.services.events import EventInput, events_record
from customers.services.lifecycle import customers_refresh, customers_sweep
from tests.customers.lifecycle.helpers import T0
from tests.factories import CustomerFactory, email_marketing

DAY = timedelta(days=1)
#: Every column the loop writes.
STATE = (
    "stage",
    "orders_count",
    "revenue",
    "first_purchase_at",
    "last_purchase_at",
    "last_open_at",
    "last_click_at",
    "open_rate",
    "click_rate",
    "engagement_score",
    "clv",
    "lapsed_at",
)


def _state() -> dict[int, tuple]:
    return {row[0]: row[1:] for row in Customer.objects.values_list("pk", *STATE)}


def _history(customers: list[Customer], seed: int) -> list[EventInput]:
    """A year of mixed activity for each customer, from a fixed seed."""
    rng = random.Random(seed)
    #: (name, properties) -> how often it happens
    kinds = {
        ("purchase", ()): 8,
        ("refund", ()): 1,
        ("email_opened", (("machine", False),)): 4,
        ("email_opened", (("machine", True),)): 3,
        ("email_clicked", (("machine", False),)): 2,
        ("page_view", ()): 3,
        ("review", ()): 0.3,
        ("nps", (("score", 9),)): 0.3,
        ("nps", (("score", 6),)): 1,
    }
    events = []
    for customer in customers:
        for _ in range(rng.randint(0, 10)):
            ((name, properties),) = rng.choices(list(kinds), list(kinds.values()))
            properties = dict(properties)
            money = name in ("purchase", "refund")
            events.append(
                EventInput(
                    name=name,
                    occurred_at=T0
                    - rng.randint(0, 500) * DAY
                    - rng.randint(0, 86399) * DAY / 86400,
                    email=customer.email,
                    properties=properties,
                    value=Decimal(rng.randint(100, 50000)) / 100 if money else None,
                    currency="EUR" if money else "",
                )
            )
    return events


def test_the_sweep_and_the_per_event_path_agree(db, django_capture_on_commit_callbacks):
    customers = CustomerFactory.create_batch(60)
    grants = [
        ConsentChange(c, email_marketing(), "granted", ConsentProof(ConsentSource.API))
        for c in customers[::3]
    ]
    with clock.simulated(T0), django_capture_on_commit_callbacks(execute=True):
        consents_record(changes=grants)
        events_record(events=_history(customers, seed=5))
    per_event = _state()
    assert {row[0] for row in per_event.values()} == set(Stage.values)

    with clock.simulated(T0), django_capture_on_commit_callbacks(execute=True):
        report = customers_sweep(at=T0, chunk=7)
    assert (report.customers, report.recomputed, report.moved) == (60, 0, 0)
    assert _state() == per_event


def test_the_per_event_path_recomputes_what_the_sweep_left(db, django_capture_on_commit_callbacks):
    customers = CustomerFactory.create_batch(30)
    with clock.simulated(T0):
        events_record(events=_history(customers, seed=11))  # no refresh: callbacks not run
    customers_sweep(at=T0)
    swept = _state()
    Customer.objects.update(
        stage=Stage.SUSPECT, orders_count=0, revenue=0, engagement_score=0, clv=0, lapsed_at=None
    )
    customers_refresh(activity=[(c.pk, "purchase") for c in customers], at=T0)
    assert _state() == swept


@pytest.mark.parametrize("count", [1, 200])
def test_a_refresh_takes_a_fixed_number_of_queries(db, django_assert_num_queries, count):
    customers = CustomerFactory.create_batch(count)
    events_record(
        events=[
            EventInput(
                name="purchase", occurred_at=T0, email=c.email, value=Decimal(1), currency="EUR"
            )
            for c in customers
        ]
    )
    # JIT off (PostgreSQL), the ladder, the locks, the lifespan, the metrics,
    # the stages, an UPDATE and an INSERT for the moves, in a savepoint pair.
    with django_assert_num_queries(10 if connection.vendor == "postgresql" else 9):
        report = customers_refresh(activity=[(c.pk, "purchase") for c in customers], at=T0)
    assert report.moved == count


def test_recording_events_adds_no_query_before_the_commit(db, django_capture_on_commit_callbacks):
    ann = CustomerFactory()
    with django_capture_on_commit_callbacks() as callbacks:
        events_record(events=[EventInput(name="purchase", occurred_at=T0, email=ann.email)])
    assert len(callbacks) == 1  # the refresh, scheduled; nothing ran yet
    ann.refresh_from_db()
    assert ann.orders_count == 0


def test_the_sweep_command_reports_what_it_did(db, capsys):
    CustomerFactory.create_batch(3)
    ann = CustomerFactory()
    with clock.simulated(T0):
        events_record(events=[EventInput(name="page_view", occurred_at=T0, email=ann.email)])
        call_command("sweep_lifecycle", "--no-progress", "--chunk", "2")
    out = capsys.readouterr().out
    assert "Swept 4 customers" in out and "1 moved on the ladder" in out
    change = StageChange.objects.get(customer=ann)
    assert (change.to_stage, change.cause) == (
        "prospect",
        "ladder: matches the Prospect rule (nightly sweep)",
    )


def test_the_sweep_runs_nightly_on_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["lifecycle-sweep"]
    assert entry["task"] == "customers.tasks.lifecycle_sweep"
    assert entry["schedule"].hour == {settings.LADDER_SWEEP_HOUR}


@pytest.mark.django_db(transaction=True)
def test_the_sweep_takes_chunks_side_by_side_on_their_own_connections(settings):
    # Committed rows, so that other connections see them (PostgreSQL; SQLite
    # has one writer, and sweeps chunk after chunk).
    settings.LADDER_SWEEP_PARALLELISM = 2
    customers = CustomerFactory.create_batch(40)
    events_record(events=_history(customers, seed=7))
    side_by_side = customers_sweep(at=T0, chunk=5)
    assert side_by_side.customers == 40
    settings.LADDER_SWEEP_PARALLELISM = 1
    again = customers_sweep(at=T0, chunk=5)
    assert (again.customers, again.recomputed, again.moved) == (40, 0, 0)
