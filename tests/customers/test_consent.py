import re

import pytest
from django.core import signing

from customers.models import Consent, ConsentRecord, ConsentSource, ConsentStatus
from customers.services.consent import (
    CONFIRM_SALT,
    ConfirmationInvalid,
    ConsentProof,
    consent_confirm,
    consent_grant,
    consent_request,
    consent_withdraw,
)
from tests.factories import CustomerFactory, email_marketing

PROOF = ConsentProof(
    source=ConsentSource.FORM,
    actor="signup-form",
    text="Yes, send me offers",
    text_version="v3",
    ip_address="203.0.113.9",
    user_agent="Mozilla/5.0",
)


def _status(customer):
    return Consent.objects.get(customer=customer, topic=email_marketing()).status


def _confirm_token(mailoutbox):
    [message] = mailoutbox
    return re.search(r"/consent/confirm/([^/\s]+)/", message.body).group(1)


def test_it_keeps_every_change_with_its_proof(db):
    customer = CustomerFactory()
    consent_grant(customer=customer, topic=email_marketing(), proof=PROOF)
    consent_withdraw(
        customer=customer, topic=email_marketing(), proof=ConsentProof(ConsentSource.API)
    )
    history = list(customer.consent_records.order_by("recorded_at", "id"))
    assert [r.status for r in history] == [ConsentStatus.GRANTED, ConsentStatus.WITHDRAWN]
    first = history[0]
    assert (first.source, first.actor, first.text, first.text_version) == (
        "form",
        "signup-form",
        "Yes, send me offers",
        "v3",
    )
    assert (first.ip_address, first.user_agent) == ("203.0.113.9", "Mozilla/5.0")
    assert _status(customer) == ConsentStatus.WITHDRAWN


def test_it_does_not_record_a_repeat_of_the_same_consent(db):
    customer = CustomerFactory()
    consent_grant(customer=customer, topic=email_marketing(), proof=PROOF)
    consent_grant(customer=customer, topic=email_marketing(), proof=PROOF)
    assert customer.consent_records.count() == 1


def test_history_cannot_be_edited(db):
    customer = CustomerFactory()
    consent_grant(customer=customer, topic=email_marketing(), proof=PROOF)
    record = ConsentRecord.objects.get()
    record.status = ConsentStatus.WITHDRAWN
    with pytest.raises(ValueError, match="append-only"):
        record.save()


def test_double_opt_in_sends_a_link_that_grants(db, mailoutbox, django_capture_on_commit_callbacks):
    customer = CustomerFactory(email="ann@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        assert consent_request(customer=customer, topic=email_marketing(), proof=PROOF)
    assert _status(customer) == ConsentStatus.PENDING
    token = _confirm_token(mailoutbox)

    consent_confirm(token=token, ip_address="198.51.100.1", user_agent="Phone")
    assert _status(customer) == ConsentStatus.GRANTED
    latest = customer.consent_records.first()
    assert (latest.source, latest.text_version, latest.ip_address) == (
        ConsentSource.CONFIRMATION,
        "v3",
        "198.51.100.1",
    )
    # A second click is harmless.
    consent_confirm(token=token, ip_address=None, user_agent="")
    assert customer.consent_records.count() == 2


def test_it_sends_no_confirmation_when_consent_is_already_granted(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    consent_grant(customer=customer, topic=email_marketing(), proof=PROOF)
    with django_capture_on_commit_callbacks(execute=True):
        assert not consent_request(customer=customer, topic=email_marketing(), proof=PROOF)
    assert mailoutbox == []


def test_a_confirmation_link_does_not_undo_a_later_withdrawal(
    db, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        consent_request(customer=customer, topic=email_marketing(), proof=PROOF)
    token = _confirm_token(mailoutbox)
    consent_withdraw(customer=customer, topic=email_marketing(), proof=PROOF)
    with pytest.raises(ConfirmationInvalid):
        consent_confirm(token=token, ip_address=None, user_agent="")
    assert _status(customer) == ConsentStatus.WITHDRAWN


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        signing.dumps({"c": 1, "t": "email_marketing"}, salt="another.purpose"),
        signing.dumps({"c": 999999, "t": "email_marketing"}, salt=CONFIRM_SALT),
    ],
)
def test_it_refuses_tampered_or_foreign_tokens(db, token):
    with pytest.raises(ConfirmationInvalid):
        consent_confirm(token=token, ip_address=None, user_agent="")
    assert not ConsentRecord.objects.exists()


def test_the_confirmation_page_changes_nothing_on_get(
    client, db, mailoutbox, django_capture_on_commit_callbacks
):
    customer = CustomerFactory()
    with django_capture_on_commit_callbacks(execute=True):
        consent_request(customer=customer, topic=email_marketing(), proof=PROOF)
    url = f"/consent/confirm/{_confirm_token(mailoutbox)}/"

    page = client.get(url)
    assert page.status_code == 200 and b"Yes, subscribe me" in page.content
    assert _status(customer) == ConsentStatus.PENDING

    done = client.post(url, headers={"User-Agent": "Browser"})
    assert done.status_code == 200 and b"Thank you" in done.content
    assert _status(customer) == ConsentStatus.GRANTED


def test_the_confirmation_page_says_when_a_link_is_bad(client, db):
    page = client.get("/consent/confirm/not-a-token/")
    assert page.status_code == 400
    assert b"invalid or has expired" in page.content
