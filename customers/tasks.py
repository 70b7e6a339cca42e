"""Celery adapters over customers services."""

from celery import shared_task
from django.db import OperationalError

from config import clock
from customers.emails import consent_confirmation_email_send
from customers.models import Customer, Topic
from customers.services.lifecycle import (
    customers_refresh,
    customers_refresh_pending,
    customers_sweep,
)


# SMTP/provider hiccups pass; a missing customer (erased meanwhile) will not.
@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def consent_confirmation_send(customer_id: int, topic_key: str) -> None:
    customer = Customer.objects.filter(pk=customer_id, email__isnull=False).first()
    if customer is not None:
        consent_confirmation_email_send(customer=customer, topic=Topic.objects.get(key=topic_key))


# A deadlock, a serialization failure or a dropped connection can pass on the
# next try; the work is a recompute from stored events, so a retry is harmless.
@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def lifecycle_refresh(activity: list[list]) -> None:
    """After events or consent changes commit: those customers' metrics and stage."""
    customers_refresh(
        activity=[(customer_id, name) for customer_id, name in activity], at=clock.now()
    )


@shared_task(acks_late=True, autoretry_for=(OperationalError,), retry_backoff=True, max_retries=5)
def lifecycle_refresh_pending() -> None:
    """The refreshes waiting in Redis, together (customers/lifecycle/pending.py)."""
    customers_refresh_pending(at=clock.now())


@shared_task(acks_late=True)
def lifecycle_sweep() -> None:
    """Nightly (beat): every customer's metrics and stage."""
    customers_sweep(at=clock.now())
