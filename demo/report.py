"""The summary ``make demo`` prints: what the store looks like now."""

from django.db.models import Count, Sum

from customers.models import Consent, Customer, Event, Stage, Suppression


def summary_lines() -> list[str]:
    stages = dict(Customer.objects.values_list("stage").annotate(n=Count("id")))
    consents = dict(
        Consent.objects.filter(topic__key="email_marketing")
        .values_list("status")
        .annotate(n=Count("id"))
    )
    events = Event.objects.values("name").annotate(n=Count("id"), total=Sum("value"))
    customers = Customer.objects.count()
    lines = [f"Customers: {customers:,}", "", "Lifecycle stage"]
    lines += [f"  {label:<10} {stages.get(value, 0):>7,}" for value, label in Stage.choices]
    lines += ["", "Email marketing consent"]
    for status in ("granted", "pending", "withdrawn"):
        lines.append(f"  {status:<10} {consents.get(status, 0):>7,}")
    lines.append(f"  {'never asked':<10} {customers - sum(consents.values()):>7,}")
    lines += ["", "Events"]
    for row in events.order_by("name"):
        revenue = f"   revenue {row['total']:,.2f} EUR" if row["total"] else ""
        lines.append(f"  {row['name']:<10} {row['n']:>7,}{revenue}")
    lines += ["", f"Suppressed addresses: {Suppression.objects.count():,}"]
    return lines
