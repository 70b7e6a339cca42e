"""Every ```http example in docs/api.md is sent, in order, and must succeed."""

import json
import re
from pathlib import Path

from customers.models import Customer, Event

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _examples() -> list[tuple[str, str, dict | None]]:
    examples = []
    for block in re.findall(r"```http\n(.*?)```", DOC.read_text(), re.S):
        request_line, _, body = block.partition("\n")
        method, path = request_line.split()
        examples.append((method, path, json.loads(body) if body.strip() else None))
    return examples


def test_every_example_in_the_api_docs_works(api, db, django_capture_on_commit_callbacks):
    examples = _examples()
    assert len(examples) >= 7
    customer_id = None
    for method, path, body in examples:
        path = path.removeprefix("/api/v1").replace("{id}", str(customer_id))
        with django_capture_on_commit_callbacks(execute=True):
            response = api.post(path, body) if method == "POST" else api.get(path)
        assert response.status_code < 300, (method, path, response.content)
        customer_id = customer_id or response.json()["id"]
    assert response.json() == {"accepted": 1, "duplicates": 1}
    customer = Customer.objects.get()
    assert customer.email == "ann.lee@example.com"
    assert Event.objects.count() == 2
