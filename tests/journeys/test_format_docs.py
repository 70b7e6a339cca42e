"""Every journey in docs/journey-format.md imports, and the error examples are real."""

import json
import re
from pathlib import Path

import pytest

from campaigns.models import Message, Variant
from journeys.document import JourneyInvalid
from journeys.models import Journey
from journeys.services import journey_save
from tests.factories import email_marketing

DOC = Path(__file__).resolve().parents[2] / "docs" / "journey-format.md"


def _journeys() -> list[dict]:
    return [json.loads(block) for block in re.findall(r"```json\n(.*?)```", DOC.read_text(), re.S)]


@pytest.fixture
def doc_messages(db):
    names = {s["message"] for j in _journeys() for s in j["steps"].values() if "message" in s}
    for name in names:
        message = Message.objects.create(key=name, name=name, topic=email_marketing())
        Variant.objects.create(message=message, key="A", subject=name, html_body="<p>hi</p>")


def test_every_journey_in_the_format_docs_is_valid(doc_messages):
    journeys = _journeys()
    assert len(journeys) >= 4
    for document in journeys:
        journey_save(document=document)
    assert Journey.objects.count() == len(journeys)


def test_the_error_examples_are_what_validation_says(doc_messages):
    documented = re.search(r"```text\n(.*?)```", DOC.read_text(), re.S).group(1).splitlines()
    document = _journeys()[0]
    document["steps"]["hello"]["next"] = "nowhere"
    document["steps"]["offer"]["message"] = "welcome-9"
    document["steps"]["nudge"]["branches"][0]["weight"] = 35
    with pytest.raises(JourneyInvalid) as exc:
        journey_save(document=document)
    problems = exc.value.problems
    assert documented[0] in problems and documented[1] in problems
    loop = _journeys()[0]
    loop["steps"]["check"] = {
        "type": "condition",
        "rule": {"stage": {"is": "loyal"}},
        "then": "again",
        "else": "done",
    }
    loop["steps"]["again"] = {
        "type": "condition",
        "rule": {"stage": {"is": "loyal"}},
        "then": "check",
        "else": "done",
    }
    loop["steps"]["pause"]["next"] = "check"
    with pytest.raises(JourneyInvalid) as exc:
        journey_save(document=loop)
    assert documented[2] in exc.value.problems
    fixed = _journeys()[0]
    fixed["steps"]["offer"]["message"] = "welcome-9"
    with pytest.raises(JourneyInvalid) as exc:
        journey_save(document=fixed)
    assert exc.value.problems == [documented[3]]
