"""The demo's parts: the tick worker, the customers' behaviour."""

from datetime import UTC, datetime
from decimal import Decimal

from customers.models import Customer
from customers.services.events import EventInput, events_record
from demo.behaviour import Persona, day_of, reaction
from demo.worker import LIFECYCLE_REFRESH, TickWorker, _merged
from tests.factories import CustomerFactory

NOW = datetime(2026, 3, 3, 9, tzinfo=UTC)


def test_refreshes_merge_into_one_that_goes_first_and_a_kick_runs_once():
    tasks = [
        ("journeys.tasks.activity_route", [], {}),
        (LIFECYCLE_REFRESH, [[[1, "email_opened"]]], {}),
        ("campaigns.tasks.deliveries_dispatch", [], {}),
        (LIFECYCLE_REFRESH, [[[2, "purchase"], [1, "email_opened"]]], {}),
        ("journeys.tasks.activity_route", [], {}),
        ("customers.tasks.consent_confirmation_send", [7, "email_marketing"], {}),
    ]
    assert _merged(tasks) == [
        (LIFECYCLE_REFRESH, [[[1, "email_opened"], [2, "purchase"]]], {}),
        ("journeys.tasks.activity_route", [], {}),
        ("campaigns.tasks.deliveries_dispatch", [], {}),
        ("customers.tasks.consent_confirmation_send", [7, "email_marketing"], {}),
    ]


def test_a_kick_waiting_behind_the_beat_tick_is_dropped():
    tasks = [("journeys.tasks.activity_route", [], {}), ("journeys.tasks.engine_tick", [], {})]
    assert _merged(tasks) == [("journeys.tasks.engine_tick", [], {})]


def test_tasks_queue_until_the_tick_and_then_run_for_real(db, django_capture_on_commit_callbacks):
    ann, bob = CustomerFactory(), CustomerFactory()
    worker = TickWorker()
    with worker.collecting():
        for customer in (ann, bob):
            with django_capture_on_commit_callbacks(execute=True):
                events_record(
                    events=[
                        EventInput(
                            name="purchase",
                            email=customer.email,
                            occurred_at=NOW,
                            value=Decimal("12.50"),
                            currency="EUR",
                        )
                    ],
                    received_at=NOW,
                )
        # Queued, not run: the orders are not counted yet.
        assert Customer.objects.filter(orders_count=1).count() == 0
        ran = worker.run()
    assert Customer.objects.filter(orders_count=1).count() == 2
    assert ran == 1  # one refresh for both (no journey listens: no engine kick)
    assert worker.stopwatch.spent[f"task {LIFECYCLE_REFRESH.rpartition('.')[2]}"][0] == 1


def _persona(**changes) -> Persona:
    values = {
        "email": "ann@example.com",
        "external_id": "shop-1",
        "segment": "loyal",
        "affinity": 1.0,
        "privacy_proxy": False,
        "dead_mailbox": False,
    }
    return Persona(**{**values, **changes})


def test_a_reaction_is_the_same_every_run_and_differs_between_emails():
    def react(delivery_id: int, persona: Persona):
        return reaction(
            seed=7, delivery_id=delivery_id, persona=persona, message="welcome-1", variant="B",
            links=2, sent_at=NOW,
        )  # fmt: skip

    persona = _persona()
    assert react(1, persona) == react(1, persona)
    assert len({react(n, persona) for n in range(50)}) > 10
    dead = react(1, _persona(dead_mailbox=True))
    assert dead.bounce_at is not None and dead.open_at is None


def test_the_variants_of_a_test_truly_differ():
    """welcome-1 B's subject line is opened more often: the truth the A/B test must find."""

    def opens(variant: str) -> int:
        return sum(
            reaction(seed=1, delivery_id=n, persona=_persona(), message="welcome-1",
                     variant=variant, links=2, sent_at=NOW).open_at is not None
            for n in range(4000)
        )  # fmt: skip

    assert opens("B") > opens("A") * 1.2


def test_a_day_of_unprompted_purchases_is_reproducible():
    personas = [_persona(external_id=f"shop-{n}") for n in range(3000)]
    first = day_of(3, NOW, personas)
    assert first == day_of(3, NOW, personas)
    assert {doing.name for doing in first} == {"purchase", "review"}
