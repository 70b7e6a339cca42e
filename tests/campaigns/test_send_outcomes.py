"""How backend answers become sent / retry / failed, and the shared rate limit."""

import smtplib
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
import requests
from anymail.exceptions import AnymailRecipientsRefused, AnymailRequestsAPIError
from anymail.message import AnymailStatus
from django.conf import settings as django_settings

from campaigns.dispatch import ratelimit
from campaigns.dispatch.outcomes import Kind, from_exception, from_status, retry_after_seconds
from customers.models import SuppressionReason

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _api_error(status: int | None, retry_after: str | None = None) -> AnymailRequestsAPIError:
    response = None
    if status is not None:
        response = requests.Response()
        response.status_code = status
        if retry_after:
            response.headers["Retry-After"] = retry_after
    return AnymailRequestsAPIError("API said no", status_code=status, response=response)


def _status(*statuses: str, message_id="abc") -> AnymailStatus:
    status = AnymailStatus()
    status.status = set(statuses)
    status.message_id = message_id
    return status


@pytest.mark.parametrize(
    ("status", "kind"),
    [(429, Kind.RETRY), (500, Kind.RETRY), (503, Kind.RETRY), (408, Kind.RETRY), (None, Kind.RETRY),
     (400, Kind.FAILED), (401, Kind.FAILED), (422, Kind.FAILED)],
)  # fmt: skip
def test_http_statuses(status, kind):
    outcome = from_exception(_api_error(status), now=NOW)
    assert outcome.kind is kind
    assert outcome.suppress is None


def test_retry_after_in_seconds_and_as_a_date():
    assert from_exception(_api_error(429, "30"), now=NOW).retry_after == 30
    date = "Mon, 23 Nov 2026 12:02:00 GMT"
    assert from_exception(_api_error(503, date), now=NOW).retry_after == 120
    assert retry_after_seconds("soon", now=NOW) is None
    assert retry_after_seconds("-5", now=NOW) == 0


def test_refused_recipients_are_final_and_suppressed():
    outcome = from_exception(AnymailRecipientsRefused("all recipients refused"), now=NOW)
    assert outcome.kind is Kind.FAILED
    assert outcome.suppress == SuppressionReason.INVALID


def test_statuses_of_a_message_the_backend_returned():
    assert from_status(None).kind is Kind.SENT
    sent = from_status(_status("queued", message_id="pm-1"))
    assert (sent.kind, sent.message_id) == (Kind.SENT, "pm-1")
    assert from_status(_status("invalid")).suppress == SuppressionReason.INVALID
    assert from_status(_status("rejected")).suppress == SuppressionReason.HARD_BOUNCE
    failed = from_status(_status("failed"))
    assert (failed.kind, failed.suppress) == (Kind.FAILED, None)


def test_smtp_answers():
    refused = smtplib.SMTPRecipientsRefused({"a@example.com": (550, b"no such user")})
    assert from_exception(refused, now=NOW).kind is Kind.FAILED
    assert from_exception(refused, now=NOW).suppress == SuppressionReason.INVALID
    greylisted = smtplib.SMTPRecipientsRefused({"a@example.com": (451, b"try later")})
    assert from_exception(greylisted, now=NOW).kind is Kind.RETRY
    assert from_exception(smtplib.SMTPDataError(554, b"spam"), now=NOW).kind is Kind.FAILED
    assert from_exception(smtplib.SMTPDataError(421, b"busy"), now=NOW).kind is Kind.RETRY
    assert from_exception(smtplib.SMTPServerDisconnected("gone"), now=NOW).kind is Kind.RETRY
    assert from_exception(ConnectionRefusedError(111, "refused"), now=NOW).kind is Kind.RETRY


def test_an_unexpected_error_is_retried_so_that_the_attempt_limit_ends_it():
    assert from_exception(RuntimeError("bug"), now=NOW).kind is Kind.RETRY


# --- Rate limit ------------------------------------------------------------------


def test_no_limit_means_no_wait(settings):
    settings.LADDER_SEND_RATE = 0
    assert ratelimit.acquire("p", 10_000, sleep=pytest.fail) == 0


def test_the_local_bucket_holds_one_second_and_refills_at_the_rate():
    bucket = ratelimit.LocalBucket()
    assert bucket.take("p", 100, 100) == 0  # a full second's worth at once
    assert bucket.take("p", 100, 50) == pytest.approx(0.5, abs=0.05)
    assert bucket.take("other", 100, 10) == 0  # providers are separate


def test_acquire_sleeps_for_the_wait(settings):
    settings.LADDER_SEND_RATE = 10
    settings.LADDER_REDIS_URL = ""
    ratelimit._bucket.cache_clear()
    slept = []
    key = f"p-{uuid.uuid4()}"
    ratelimit.acquire(key, 10, sleep=slept.append)
    ratelimit.acquire(key, 5, sleep=slept.append)
    assert slept == [pytest.approx(0.5, abs=0.05)]


@pytest.mark.integration
def test_the_redis_bucket_holds_across_workers():
    """Four threads, each its own Redis client (as separate workers would be),
    take 60 messages at 100/s: the first 100 are free, so the last of 160
    must wait about 0.6 s, however the takes interleave."""
    url = django_settings.LADDER_REDIS_URL or django_settings.CELERY_BROKER_URL
    key = f"test-{uuid.uuid4()}"
    waits = []

    def worker():
        bucket = ratelimit.RedisBucket(url)
        waits.append(bucket.take(key, 100, 40))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - start < 1  # takes do not block; they return the wait
    assert sorted(waits)[:2] == [0, 0]
    assert max(waits) == pytest.approx(0.6, abs=0.05)
