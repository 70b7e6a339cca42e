"""Fixtures for the report pages: a journey with results, users with and without rights."""

import pytest
from django.contrib.auth.models import Permission

from journeys.models import StepCount
from tests.campaigns.analysis.helpers import deliveries, enroll
from tests.journeys.documents import welcome
from tests.journeys.helpers import live

#: The welcome journey's step counters in the fixture, as the engine would
#: have counted its 24 enrollments: (step, outcome) -> count.
COUNTS = {
    ("hello", "sent"): 24,
    ("hello", "deferred:quiet_hours"): 3,
    ("pause", "waited"): 24,
    ("bought", "else"): 24,
    ("nudge", "discount"): 12,
    ("nudge", "story"): 12,
    ("offer", "sent"): 12,
    ("story", "sent"): 12,
    ("done", "exit"): 24,
}


@pytest.fixture
def journey(messages):
    """The welcome journey: 24 enrollments through its split, step counters,
    and emails of its first message's two variants."""
    journey = live(welcome())
    for n in range(12):
        enroll(journey, "discount", converted=n < 3, emails=["hello", "offer"], opened=n < 6)
        enroll(journey, "story", converted=n < 5, emails=["hello", "story"], clicked=n < 4)
    StepCount.objects.bulk_create(
        StepCount(version=journey.live_version, step=step, outcome=outcome, count=count)
        for (step, outcome), count in COUNTS.items()
    )
    deliveries("welcome-1", "A", 40, opened=12, clicked=4)
    deliveries("welcome-1", "B", 44, opened=20, clicked=9)
    return journey


@pytest.fixture
def staff(django_user_model):
    """A staff member who may sign in to the admin but may view nothing yet."""
    return django_user_model.objects.create_user("staff", password="x", is_staff=True)


def allow(user, *codenames: str) -> None:
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
