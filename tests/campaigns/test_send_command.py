"""send_deliveries as an operator types it."""

from datetime import timedelta
from io import StringIO

from django.core.management import call_command
from django.utils import timezone

from campaigns.models import Delivery
from tests.factories import consented_customer, queued


def test_it_sends_what_is_due_and_says_what_happened(messages, mailoutbox):
    rows = queued([consented_customer() for _ in range(3)])
    out = StringIO()
    call_command("send_deliveries", "--until-idle", "--no-progress", stdout=out)
    assert "sent 3 · skipped 0" in out.getvalue()
    assert len(mailoutbox) == 3
    assert {Delivery.objects.get(pk=r.pk).status for r in rows} == {"sent"}


def test_it_reports_deliveries_a_stopped_worker_left_unknown(messages, settings):
    (row,) = queued([consented_customer()])
    handed = timezone.now() - timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS + 5)
    Delivery.objects.filter(pk=row.pk).update(status="sending", handed_at=handed)
    err = StringIO()
    call_command("send_deliveries", "--until-idle", "--no-progress", stdout=StringIO(), stderr=err)
    assert "1 deliveries were left mid-send" in err.getvalue()
    assert Delivery.objects.get(pk=row.pk).status == "unknown"
