"""Celery adapters over customers services."""

from celery import shared_task

from customers.emails import consent_confirmation_email_send
from customers.models import Customer, Topic


# SMTP/provider hiccups pass; a missing customer (erased meanwhile) will not.
@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def consent_confirmation_send(customer_id: int, topic_key: str) -> None:
    customer = Customer.objects.filter(pk=customer_id, email__isnull=False).first()
    if customer is not None:
        consent_confirmation_email_send(customer=customer, topic=Topic.objects.get(key=topic_key))
