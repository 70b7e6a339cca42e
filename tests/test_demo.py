from io import StringIO

from django.core.management import call_command

from customers.models import Consent, Customer, Event


def test_the_demo_seeds_customers_consents_and_events_and_reruns_cleanly(db):
    out = StringIO()
    call_command("demo", customers=60, no_progress=True, stdout=out)
    assert Customer.objects.count() == 60
    assert Consent.objects.filter(status="granted").exists()
    assert Event.objects.filter(name="purchase").exists()
    assert "Customers: 60" in out.getvalue()
    assert "password ladder-demo" in out.getvalue()

    counts = (Customer.objects.count(), Event.objects.count(), Consent.objects.count())
    again = StringIO()
    call_command("demo", customers=60, no_progress=True, stdout=again)
    assert (Customer.objects.count(), Event.objects.count(), Consent.objects.count()) == counts
    assert "Created 0 customers, recorded 0 consent changes and 0 events" in again.getvalue()
