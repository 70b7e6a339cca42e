"""Everything in examples/ is valid: the messages import, the journeys import and go live."""

import json
from io import StringIO
from pathlib import Path

from django.core.management import call_command

from campaigns.models import Message
from journeys.models import Journey

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_every_example_message_and_journey_imports_and_goes_live(db):
    out = StringIO()
    call_command("import_messages", EXAMPLES / "messages", stdout=out)
    messages = sorted((EXAMPLES / "messages").glob("*.toml"))
    assert out.getvalue().count("created") == len(messages) >= 7
    journeys = sorted((EXAMPLES / "journeys").glob("*.json"))
    assert len(journeys) >= 5
    for path in journeys:
        call_command("import_journey", path, "--activate", stdout=out)
    assert Journey.objects.filter(status=Journey.Status.ACTIVE).count() == len(journeys)


def test_every_example_message_is_sent_by_an_example_journey(db):
    sent = {
        step["message"]
        for path in (EXAMPLES / "journeys").glob("*.json")
        for step in json.loads(path.read_text())["steps"].values()
        if step["type"] == "send_email"
    }
    call_command("import_messages", EXAMPLES / "messages", stdout=StringIO())
    assert set(Message.objects.values_list("key", flat=True)) == sent
