"""import_journey, export_journey and run_engine as a user types them."""

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns.dispatch.compose import mailbox
from campaigns.models import Delivery
from config import clock
from customers.models import Stage
from customers.services.stage import stage_set
from journeys.models import Enrollment, Journey, JourneyVersion
from tests.journeys.documents import welcome
from tests.journeys.helpers import consented


def _write(tmp_path, document, name="journey.json"):
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return path


def test_import_validates_stores_and_activates(tmp_path, messages):
    out = StringIO()
    call_command("import_journey", _write(tmp_path, welcome()), "--activate", stdout=out)
    assert "saved as version 1 (active)" in out.getvalue()
    assert Journey.objects.get().status == "active"


def test_import_refuses_an_invalid_journey_and_stores_nothing(tmp_path, messages):
    broken = welcome()
    broken["steps"]["hello"]["next"] = "nowhere"
    broken["steps"]["offer"]["message"] = "no-such-message"
    with pytest.raises(CommandError) as exc:
        call_command("import_journey", _write(tmp_path, broken))
    message = str(exc.value)
    assert "nothing was stored" in message
    assert "steps.hello: 'next' points to 'nowhere'" in message
    assert not Journey.objects.exists()


def test_import_reports_unknown_messages(tmp_path, db):
    with pytest.raises(
        CommandError, match=re.escape("steps.hello: there is no message 'welcome-1'")
    ):
        call_command("import_journey", _write(tmp_path, welcome()))
    assert not JourneyVersion.objects.exists()


def test_import_says_what_is_wrong_with_the_file(tmp_path, db):
    with pytest.raises(CommandError, match="no such file"):
        call_command("import_journey", tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CommandError, match="not valid JSON"):
        call_command("import_journey", bad)


def test_export_writes_what_was_imported(tmp_path, messages):
    call_command("import_journey", _write(tmp_path, welcome()))
    target = tmp_path / "out.json"
    call_command("export_journey", "welcome", "-o", target, stderr=StringIO())
    assert json.loads(target.read_text()) == welcome()
    with pytest.raises(CommandError, match="There is no journey 'nope'"):
        call_command("export_journey", "nope")


def test_run_engine_advances_a_simulated_month(tmp_path, messages, mailoutbox):
    call_command("import_journey", _write(tmp_path, welcome()), "--activate", stdout=StringIO())
    ann = consented()
    stage_set(customer=ann, stage=Stage.PROSPECT, cause="test")
    start = clock.now()
    out = StringIO()
    call_command("run_engine", "--advance", "30d", "--no-progress", stdout=out)
    assert "emails queued 2" in out.getvalue() and "emails sent 2" in out.getvalue()
    enrollment = Enrollment.objects.get()
    assert enrollment.status == "completed"
    assert enrollment.ended_at - start >= timedelta(days=2)
    assert Delivery.objects.count() == 2
    assert set(Delivery.objects.values_list("status", flat=True)) == {"sent"}
    assert [m.to for m in mailoutbox] == [[mailbox(ann.full_name, ann.email)]] * 2
    # The simulation is over: the clock is real again.
    assert clock.now() - start < timedelta(minutes=5)


def test_run_engine_until_idle(tmp_path, messages):
    call_command("import_journey", _write(tmp_path, welcome()), "--activate", stdout=StringIO())
    stage_set(customer=consented(), stage=Stage.PROSPECT, cause="test")
    out = StringIO()
    call_command("run_engine", "--until-idle", stdout=out)
    assert "enrolled 1" in out.getvalue() and "emails queued 1" in out.getvalue()
    assert "emails sent 1" in out.getvalue()


def test_run_engine_can_leave_emails_for_the_workers(tmp_path, messages):
    call_command("import_journey", _write(tmp_path, welcome()), "--activate", stdout=StringIO())
    stage_set(customer=consented(), stage=Stage.PROSPECT, cause="test")
    out = StringIO()
    call_command("run_engine", "--until-idle", "--no-send", stdout=out)
    assert "emails sent" not in out.getvalue()
    assert Delivery.objects.get().status == "queued"


def test_run_engine_refuses_a_bad_duration(db):
    with pytest.raises(CommandError, match="not like"):
        call_command("run_engine", "--advance", "a while")
