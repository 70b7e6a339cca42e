import pytest

from tests.customers.lifecycle.helpers import Life


@pytest.fixture
def life(db, django_capture_on_commit_callbacks):
    return Life(django_capture_on_commit_callbacks)
