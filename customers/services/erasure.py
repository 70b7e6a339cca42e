"""Erasing a customer's personal data on request (GDPR art. 17)."""

from django.db import transaction

from config import clock
from customers.models import ConsentRecord, Customer, Event


@transaction.atomic
def customer_erase(*, customer: Customer) -> Customer:
    """Remove everything that identifies the customer, keep what is anonymous.

    Kept: the row with its stage, metrics and stage history, events without
    their properties, consent history without IP and user agent, and any
    suppression (already a hash of the address), so that aggregates stay true
    and a suppressed address stays suppressed if it is ever imported again.
    """
    now = clock.now()
    customer.email = None
    customer.external_id = None
    customer.first_name = customer.last_name = customer.locale = ""
    customer.time_zone = "UTC"
    customer.attributes = {}
    customer.erased_at = customer.updated_at = now
    customer.save()
    Event.objects.filter(customer=customer).update(properties={})
    ConsentRecord.objects.filter(customer=customer).update(ip_address=None, user_agent="")
    return customer
