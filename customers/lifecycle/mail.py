"""How many emails each customer was sent, and opened or clicked: the rates' source.

The outbox belongs to campaigns, and customers imports neither campaigns nor
journeys (DESIGN.md). So campaigns registers its counts here when it starts,
the way journeys registers the event names it listens for in
``customers.signals``. Without a source nobody was emailed: rates stay NULL.
"""

from collections.abc import Callable

from django.db.models import Q, QuerySet

#: Returns a queryset of rows ``(customer_id, sent, opened, clicked)``, one per
#: customer: emails sent and not bounced, and how many of those a person (not
#: a scanner or a privacy proxy) opened, and clicked.
EmailCounts = Callable[[], QuerySet]

_source: list[EmailCounts] = []


def email_counts_register(source: EmailCounts) -> None:
    """Make ``source`` the one place rates are counted from (campaigns calls this)."""
    _source[:] = [source]


def email_counts(customers: Q) -> QuerySet | None:
    """The counts of the customers ``customers`` (a condition on ``customer_id``)
    selects, or None when no app sends email."""
    return _source[0]().filter(customers) if _source else None
