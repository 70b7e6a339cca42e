"""A purchase sent through the HTTP API moves the customer up the ladder, and the
journey for the stage they entered starts: the whole feedback loop."""

from campaigns.models import Delivery
from config import clock
from customers.models import Stage, StageChange
from journeys.models import Enrollment
from tests.customers.lifecycle.helpers import Life
from tests.factories import CustomerFactory
from tests.journeys.documents import steps
from tests.journeys.helpers import T0, live


def _first_purchase_journey():
    return live(
        steps(
            "thanks",
            trigger={"type": "stage_entered", "stage": "customer"},
            thanks={"type": "send_email", "message": "m", "next": "end"},
            end={"type": "exit"},
        ),
        at=T0,
    )


def test_a_purchase_through_the_api_moves_the_customer_up_and_starts_its_journey(
    api, messages, django_capture_on_commit_callbacks
):
    journey = _first_purchase_journey()
    ann = Life(django_capture_on_commit_callbacks).grant(
        CustomerFactory(email="ann@example.com"), T0
    )
    assert ann.stage == Stage.PROSPECT

    later = T0.replace(hour=13)
    with clock.simulated(later), django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/events",
            {
                "email": "ann@example.com",
                "name": "purchase",
                "occurred_at": later.isoformat(),
                "value": "49.90",
                "currency": "EUR",
                "idempotency_key": "order-1",
            },
        )
    assert response.status_code == 202

    ann.refresh_from_db()
    assert (ann.stage, ann.orders_count, str(ann.revenue)) == (Stage.CUSTOMER, 1, "49.90")
    change = StageChange.objects.filter(customer=ann).latest("changed_at")
    assert (change.from_stage, change.to_stage, change.cause) == (
        "prospect",
        "customer",
        "ladder: matches the Customer rule (purchase)",
    )
    enrollment = Enrollment.objects.get(journey=journey, customer=ann)
    assert enrollment.trigger_ref == f"stage:{change.pk}"
    assert Delivery.objects.filter(customer=ann, message__key="m").count() == 1
