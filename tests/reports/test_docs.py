"""docs/reports.md stays true: each download it shows is what the URL above it
returns, for the example it describes."""

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
import time_machine

from customers.models import Customer
from tests.customers.lifecycle.history import march_history, noon

DOC = Path(__file__).resolve().parents[2] / "docs" / "reports.md"
EXAMPLES = re.findall(
    r"```text\n(/admin/reports/\S+)\n```\n\n```csv\n(.*?)```", DOC.read_text(), re.S
)


@pytest.fixture
def march(db):
    """The ladder example: four customers' March, three of them lapsed."""
    customers = march_history()
    for name, at in {"ann": noon(2, 1), "bob": noon(3, 10), "cat": noon(3, 24)}.items():
        Customer.objects.filter(pk=customers[name].pk).update(lapsed_at=at)


def test_it_has_an_example_of_each_download():
    assert [url.split("?")[0].rsplit("/", 1)[1] for url, _ in EXAMPLES] == [
        "funnel.csv", "counts.csv", "transitions.csv", "time_in_stage.csv", "lapsed.csv"
    ]  # fmt: skip


@pytest.mark.parametrize(("url", "shown"), EXAMPLES, ids=[url for url, _ in EXAMPLES])
def test_each_example_is_what_the_url_returns(request, admin_client, url, shown):
    request.getfixturevalue("journey" if "/journeys/" in url else "march")
    with time_machine.travel(datetime(2026, 6, 1, tzinfo=UTC), tick=False):
        response = admin_client.get(url)
    assert response.status_code == 200
    assert response.content.decode().replace("\r\n", "\n") == shown
