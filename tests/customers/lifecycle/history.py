"""A fixed stage history for the history reads and the ladder report.

Four customers, March 2026 (weeks start on Mondays: 2, 9, 16, 23), every move
at noon UTC:

- ann: created 20 Feb (suspect), prospect 3 Mar, customer 10 Mar, repeat 22 Mar;
- bob: created 4 Mar (suspect), prospect 5 Mar;
- cat: made in the admin on 25 Feb as a prospect (no first change recorded),
  customer 11 Mar;
- dan: made in the admin on 17 Mar, a suspect, never moved.
"""

from datetime import UTC, datetime

from customers.models import Customer, Stage
from customers.services.profiles import ProfileInput, customers_upsert
from customers.services.stage import stage_set

START, END = datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 30, tzinfo=UTC)


def noon(month: int, day: int) -> datetime:
    return datetime(2026, month, day, 12, tzinfo=UTC)


def created(email: str, at: datetime) -> Customer:
    """A customer made through the service, with its first stage recorded."""
    (upserted,) = customers_upsert(profiles=[ProfileInput(email=email)], cause="test", at=at)
    return upserted.customer


def made_in_admin(email: str, at: datetime, stage: Stage = Stage.SUSPECT) -> Customer:
    """A customer saved as the admin's add form saves it: no first change."""
    customer = Customer.objects.create(email=email, stage=stage)
    Customer.objects.filter(pk=customer.pk).update(created_at=at)
    return customer


def march_history() -> dict[str, Customer]:
    ann = created("ann@example.com", noon(2, 20))
    bob = created("bob@example.com", noon(3, 4))
    cat = made_in_admin("cat@example.com", noon(2, 25), Stage.PROSPECT)
    dan = made_in_admin("dan@example.com", noon(3, 17))
    moves = [
        (ann, Stage.PROSPECT, noon(3, 3)),
        (bob, Stage.PROSPECT, noon(3, 5)),
        (ann, Stage.CUSTOMER, noon(3, 10)),
        (cat, Stage.CUSTOMER, noon(3, 11)),
        (ann, Stage.REPEAT, noon(3, 22)),
    ]
    for customer, stage, at in moves:
        stage_set(customer=customer, stage=stage, cause="test", at=at)
    return {"ann": ann, "bob": bob, "cat": cat, "dan": dan}
