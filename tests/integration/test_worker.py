"""A task really crosses Redis to a separate worker process on PostgreSQL."""

from email import message_from_bytes

import pytest
from django.conf import settings

from customers.models import ConsentSource, ConsentStatus
from customers.services.consent import ConsentProof, consent_confirm, consent_request
from tests.factories import CustomerFactory, email_marketing
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_it_sends_the_double_opt_in_email_from_a_real_worker(start_worker):
    start_worker()
    customer = CustomerFactory(email="ann@example.com", first_name="Ann")

    consent_request(
        customer=customer, topic=email_marketing(), proof=ConsentProof(ConsentSource.FORM)
    )

    outbox = settings.EMAIL_OUTBOX_DIR
    [eml] = wait_for(lambda: list(outbox.glob("*.eml")), what="the confirmation .eml")
    message = message_from_bytes(eml.read_bytes())
    assert message["To"] == "ann@example.com"
    body = message.get_payload()[0].get_payload(decode=True).decode()
    token = body.split("/consent/confirm/")[1].split("/")[0]
    consent_confirm(token=token, ip_address=None, user_agent="")
    assert customer.consents.get().status == ConsentStatus.GRANTED
