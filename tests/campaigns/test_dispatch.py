"""Dispatch with anymail's test backend: claim, re-check, render, send, record."""

import email.policy
import email.utils
from datetime import timedelta

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from campaigns.dispatch import deliveries_recover, dispatch_batch, dispatch_until
from campaigns.dispatch.claim import deliveries_claim, deliveries_hold
from campaigns.dispatch.send import _hand_over, retry_delay
from campaigns.models import Delivery, Message, VariantLink
from campaigns.tokens import Purpose, token_read
from customers.models import ConsentSource, Suppression, SuppressionReason, address_hash
from customers.services.consent import ConsentProof, consent_withdraw
from customers.services.erasure import customer_erase
from customers.services.suppression import suppression_add
from tests.campaigns import scripted_backend
from tests.factories import consented_customer, email_marketing, queued

SCRIPTED = "tests.campaigns.scripted_backend.EmailBackend"
HTML = """<p>Hello {{ customer.first_name }}, you are a {{ customer.stage }}.</p>
<p><a href="https://shop.example.com/sale">Shop the sale</a>
<a href="https://shop.example.com/p/{{ customer.attributes.favourite }}">Your favourite</a></p>"""


@pytest.fixture(autouse=True)
def _backend(settings, messages):
    settings.EMAIL_BACKEND = SCRIPTED
    settings.LADDER_SENDERS = ["Example Shop <news@shop.example.com>", "help@shop.example.com"]
    settings.LADDER_FREQUENCY_CAP_PER_DAY = None
    settings.LADDER_FREQUENCY_CAP_PER_WEEK = None
    message = Message.objects.get(key="m")
    message.reply_to = "help@shop.example.com"
    message.save()
    message.variants.update(html_body=HTML, subject="Hi {{ customer.first_name }}")
    scripted_backend.OPENED.clear()
    mail.outbox = []


def _status(delivery: Delivery) -> str:
    delivery.refresh_from_db()
    return delivery.status


def _sent_to(address: str):
    return [m for m in mail.outbox if address in m.to[0]]


# --- Sending ------------------------------------------------------------------


def test_it_sends_each_queued_delivery_once_and_records_the_provider_answer():
    customers = [
        consented_customer(first_name=f"Ann{i}", attributes={"favourite": f"tea-{i}"})
        for i in range(3)
    ]
    deliveries = queued(customers)

    report = dispatch_batch()

    assert (report.claimed, report.sent) == (3, 3)
    assert len(mail.outbox) == 3
    for delivery in deliveries:
        delivery.refresh_from_db()
        assert delivery.status == Delivery.Status.SENT
        assert delivery.sent_at is not None and delivery.handed_at is not None
        assert delivery.attempts == 1
        assert delivery.provider_message_id != ""
        assert delivery.lease_until is None
    assert dispatch_batch().idle  # nothing left: a second run sends nothing
    assert len(mail.outbox) == 3


def test_the_email_is_personal_tracked_and_carries_the_headers_mailbox_providers_require():
    customer = consented_customer(
        first_name="Zoë", last_name="Ng", attributes={"favourite": "oolong"}
    )
    (delivery,) = queued([customer])

    dispatch_batch()

    (sent,) = mail.outbox
    assert sent.subject == "Hi Zoë"
    assert sent.from_email == "Example Shop <news@shop.example.com>"
    assert sent.reply_to == ["help@shop.example.com"]
    assert email.utils.parseaddr(sent.to[0]) == ("Zoë Ng", customer.email)
    assert sent.tags == ["m"]
    metadata = {"delivery_id": str(delivery.pk), "message": "m", "variant": delivery.variant.key}
    assert sent.metadata == metadata
    assert sent.anymail_test_params["metadata"] == metadata

    headers = sent.extra_headers
    https, mailto = headers["List-Unsubscribe"].split(", ")
    assert https.startswith("<http") and mailto.startswith("<mailto:")
    assert headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert headers["Message-ID"].endswith("@shop.example.com>")
    token = https.strip("<>").rstrip("/").rpartition("/")[2]
    assert token_read(Purpose.UNSUBSCRIBE, token) == (delivery.pk,)

    html = sent.alternatives[0][0]
    assert "Hello Zoë" in html and "oolong" not in sent.body.split("http")[0]
    # Both links, the personal one too, are click-tracked through stored targets.
    stored = set(VariantLink.objects.filter(variant=delivery.variant).values_list("url", flat=True))
    assert stored == {"https://shop.example.com/sale", "https://shop.example.com/p/oolong"}
    assert "https://shop.example.com/sale" not in html
    assert html.count("/t/c/") == 2
    assert "/t/o/" in html  # the open pixel
    assert "ladder-pending" not in html


def test_message_ids_are_unique():
    queued([consented_customer(attributes={"favourite": "x"}) for _ in range(5)])
    dispatch_batch()
    ids = [m.extra_headers["Message-ID"] for m in mail.outbox]
    assert len(set(ids)) == 5


def test_a_batch_uses_one_connection():
    queued([consented_customer(attributes={"favourite": "x"}) for _ in range(7)])
    dispatch_batch()
    assert len(mail.outbox) == 7
    assert len(set(scripted_backend.OPENED)) == 1


# --- Re-checks at send time -----------------------------------------------------


def test_unsubscribing_between_enqueue_and_send_means_nothing_is_sent():
    stays, leaves = consented_customer(), consented_customer()
    staying, leaving = queued([stays, leaves])
    consent_withdraw(
        customer=leaves,
        topic=email_marketing(),
        proof=ConsentProof(source=ConsentSource.UNSUBSCRIBE),
    )

    report = dispatch_batch()

    assert (report.sent, report.skipped) == (1, 1)
    assert _sent_to(leaves.email) == []
    assert _status(leaving) == Delivery.Status.SKIPPED
    assert "no consent" in Delivery.objects.get(pk=leaving.pk).error
    assert _status(staying) == Delivery.Status.SENT


def test_suppressed_and_erased_customers_are_skipped():
    suppressed, erased = consented_customer(), consented_customer()
    rows = queued([suppressed, erased])
    suppression_add(email=suppressed.email, reason=SuppressionReason.COMPLAINT)
    customer_erase(customer=erased)

    dispatch_batch()

    assert mail.outbox == []
    assert [_status(row) for row in rows] == [Delivery.Status.SKIPPED] * 2


def test_the_frequency_cap_defers_rather_than_drops(settings):
    settings.LADDER_FREQUENCY_CAP_PER_DAY = 1
    customer = consented_customer()
    first = queued([customer], step="one")[0]
    second = queued([customer], step="two")[0]

    dispatch_batch()

    assert _status(first) == Delivery.Status.SENT
    second.refresh_from_db()
    assert second.status == Delivery.Status.QUEUED
    assert second.next_attempt_at > timezone.now() + timedelta(hours=23)
    assert second.error.startswith("frequency cap")
    assert len(mail.outbox) == 1


def test_an_email_leased_by_another_claim_counts_against_the_cap(settings):
    """A worker's claim leases the rows after its first chunk; a second worker
    claiming meanwhile must count them, or one customer gets both emails."""
    settings.LADDER_FREQUENCY_CAP_PER_DAY = 1
    customer = consented_customer()
    first = queued([customer], step="one")[0]
    with transaction.atomic():
        claim = deliveries_claim(now=timezone.now(), limit=10)
        deliveries_hold(claim, handed=[], now=timezone.now())  # leased, not yet handed over
    second = queued([customer], step="two")[0]

    with transaction.atomic():
        other = deliveries_claim(now=timezone.now(), limit=10)

    assert [row.id for row in claim.deliveries] == [first.id]
    assert other.deliveries == [] and other.deferred == 1
    second.refresh_from_db()
    assert second.error.startswith("frequency cap")


# --- Failures -------------------------------------------------------------------


def test_a_throttled_send_is_retried_after_the_providers_retry_after():
    ok_before, throttled, ok_after = (
        consented_customer(email="a@example.com"),
        consented_customer(email="throttle@example.com"),
        consented_customer(email="c@example.com"),
    )
    rows = queued([ok_before, throttled, ok_after])
    before = timezone.now()

    report = dispatch_batch()

    first, second, third = (Delivery.objects.get(pk=row.pk) for row in rows)
    assert first.status == Delivery.Status.SENT
    assert second.status == Delivery.Status.QUEUED
    assert second.attempts == 1
    assert second.next_attempt_at >= before + timedelta(seconds=120)
    assert "429" in second.error
    # The provider is throttling: the rest of the batch waits too, unattempted.
    assert third.status == Delivery.Status.QUEUED
    assert third.attempts == 0
    assert third.next_attempt_at >= before + timedelta(seconds=120)
    assert (report.sent, report.retried) == (1, 2)
    assert dispatch_batch().idle  # nothing is due before Retry-After


def test_transient_failures_give_up_after_the_attempt_limit(settings):
    settings.LADDER_SEND_MAX_ATTEMPTS = 3
    (row,) = queued([consented_customer(email="outage@example.com")])
    for _ in range(3):
        Delivery.objects.filter(pk=row.pk).update(next_attempt_at=None)
        dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.FAILED
    assert row.attempts == 3
    assert row.error.startswith("gave up after 3 attempts")
    assert "503" in row.error


def test_an_invalid_address_fails_for_good_and_is_suppressed():
    bad, good = consented_customer(email="invalid@example.com"), consented_customer()
    bad_row, good_row = queued([bad, good])

    dispatch_batch()

    bad_row.refresh_from_db()
    assert bad_row.status == Delivery.Status.FAILED
    assert "invalid" in bad_row.error
    assert Suppression.objects.get(address_hash=address_hash(bad.email)).reason == "invalid"
    assert _status(good_row) == Delivery.Status.SENT  # one bad address stops nothing


def test_a_webhook_faster_than_the_send_call_is_not_overwritten():
    (row,) = queued([consented_customer(email="quick@example.com")])
    dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.DELIVERED
    assert row.sent_at is not None and row.provider_message_id != "" and row.attempts == 1


def test_a_permanent_api_error_fails_without_suppressing():
    (row,) = queued([consented_customer(email="refused@example.com")])
    dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.FAILED and "422" in row.error
    assert not Suppression.objects.exists()


def test_a_template_that_fails_fails_its_email_with_the_reason():
    Message.objects.get(key="m").variants.update(html_body="<p>{{ 1 / 0 }}</p>")
    (row,) = queued([consented_customer()])
    dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.FAILED
    assert row.error.startswith("the template failed")
    assert mail.outbox == []


def test_an_unverified_sender_is_never_used(settings):
    Message.objects.filter(key="m").update(sender="someone@elsewhere.example")
    (row,) = queued([consented_customer()])
    dispatch_batch()
    row.refresh_from_db()
    assert row.status == Delivery.Status.FAILED
    assert "not a verified sender" in row.error
    assert mail.outbox == []


def test_retry_delays_grow_with_jitter_and_honour_retry_after(settings):
    settings.LADDER_SEND_RETRY_BASE_SECONDS = 10
    settings.LADDER_SEND_RETRY_MAX_SECONDS = 300
    for attempts, (low, high) in {1: (5, 10), 2: (10, 20), 3: (20, 40), 9: (150, 300)}.items():
        delays = [retry_delay(attempts, None) for _ in range(50)]
        assert all(low <= d <= high for d in delays)
        assert len(set(delays)) > 1  # jitter
    assert retry_delay(1, 90) == 90
    assert retry_delay(1, 10_000) == 300  # never past the maximum


# --- Header injection -------------------------------------------------------------


def test_customer_fields_cannot_inject_headers():
    Message.objects.get(key="m").variants.update(subject="Hi {{ customer.first_name }}")
    customer = consented_customer(
        first_name="Eve\r\nBcc: victim@example.net\r\n", last_name="X\nSubject: pwned"
    )
    queued([customer])

    dispatch_batch()

    (sent,) = mail.outbox
    parsed = email.message_from_bytes(sent.message().as_bytes(), policy=email.policy.default)
    assert parsed.get_all("Bcc") is None and sent.bcc == []
    assert parsed.get_all("Subject") == ["Hi Eve Bcc: victim@example.net"]
    (to,) = parsed.get_all("To")
    assert [address.addr_spec for address in to.addresses] == [customer.email]
    assert to.addresses[0].display_name == "Eve Bcc: victim@example.net X Subject: pwned"


# --- Crashes and leases ---------------------------------------------------------


def test_a_delivery_left_sending_by_a_dead_worker_becomes_unknown_and_is_not_resent(settings):
    (row,) = queued([consented_customer()])
    long_ago = timezone.now() - timedelta(seconds=settings.LADDER_SENDING_TIMEOUT_SECONDS + 1)
    Delivery.objects.filter(pk=row.pk).update(status=Delivery.Status.SENDING, handed_at=long_ago)

    assert deliveries_recover() == 1
    row.refresh_from_db()
    assert row.status == Delivery.Status.UNKNOWN
    assert "may or may not" in row.error
    dispatch_until()
    assert mail.outbox == []
    assert _status(row) == Delivery.Status.UNKNOWN


def test_a_recent_sending_row_is_left_alone():
    (row,) = queued([consented_customer()])
    Delivery.objects.filter(pk=row.pk).update(
        status=Delivery.Status.SENDING, handed_at=timezone.now()
    )
    assert deliveries_recover() == 0


def test_a_worker_that_fails_before_handing_over_leaves_its_rows_as_they_were(monkeypatch):
    deliveries = queued([consented_customer(), consented_customer()])

    def crash(**kwargs):
        raise MemoryError("the worker ran out of memory mid-render")

    monkeypatch.setattr("campaigns.dispatch.send.render_email", crash)
    with pytest.raises(MemoryError):
        dispatch_batch()

    for delivery in deliveries:
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts, delivery.lease_until) == ("queued", 0, None)
    monkeypatch.undo()
    assert dispatch_batch().sent == 2  # nothing to wait for: the next run sends them


def test_only_the_chunk_being_sent_is_sending_and_the_rest_of_the_batch_is_leased(settings):
    settings.LADDER_DISPATCH_CHUNK = 2
    deliveries = queued([consented_customer() for _ in range(5)])
    seen = []

    def watch(message):
        seen.append(sorted(Delivery.objects.values_list("status", flat=True)))

    scripted_backend.ON_SEND.append(watch)
    try:
        assert dispatch_batch().sent == 5
    finally:
        scripted_backend.ON_SEND.clear()

    assert seen[0] == ["queued", "queued", "queued", "sending", "sending"]
    assert seen[2] == ["queued", "sending", "sending", "sent", "sent"]
    leased = Delivery.objects.filter(pk__in=[d.pk for d in deliveries], lease_until__isnull=False)
    assert not leased.exists()  # the results clear the lease


def test_rows_a_worker_claimed_but_never_reached_go_out_once_its_lease_ends():
    (row,) = queued([consented_customer()])
    now = timezone.now()
    dead = deliveries_claim(now=now, limit=10)  # a worker claims, leases, then dies
    deliveries_hold(dead, handed=[], now=now)
    assert [d.id for d in dead.deliveries] == [row.pk]
    assert deliveries_claim(now=now, limit=10).deliveries == []  # leased: nobody else

    later = now + timedelta(minutes=6)
    alive = deliveries_claim(now=later, limit=10)
    deliveries_hold(alive, handed=[], now=later)
    assert [d.id for d in alive.deliveries] == [row.pk]
    # The dead worker's lease is no longer on the row: it could not hand it over.
    assert _hand_over([row.pk], dead.lease_until, later) == set()
    assert _hand_over([row.pk], alive.lease_until, later) == {row.pk}


def test_link_ids_are_remembered_only_once_their_batch_commits(django_capture_on_commit_callbacks):
    from django.db import transaction

    from campaigns.dispatch import links

    variant = Message.objects.get(key="m").variants.first()
    url = "https://shop.example.com/new-arrival"
    with transaction.atomic():
        batch = links.BatchLinks()
        batch.tracker(delivery_id=1, variant_id=variant.pk)(url)
        batch.register()
        transaction.set_rollback(True)  # the batch failed after storing the link
    assert (variant.pk, url) not in links._known

    with django_capture_on_commit_callbacks(execute=True):
        batch = links.BatchLinks()
        tracked = batch.tracker(delivery_id=1, variant_id=variant.pk)(url)
        batch.register()
        filled = batch.fill(f'<a href="{tracked}">')
    link = VariantLink.objects.get(variant=variant, url=url)
    assert links._known[(variant.pk, url)] == link.pk
    assert filled.endswith(f'/{link.pk}">')
