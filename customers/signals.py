"""Signals other apps listen to; customers imports none of them.

``activity_recorded`` is sent inside the writing transaction whenever events or
stage changes are stored. Listeners must only *schedule* work with
``transaction.on_commit``: the rows themselves (``routed_at IS NULL``) are the
durable record of what still needs routing, the signal is just a nudge.
"""

from django.dispatch import Signal

#: kwargs: kind ("event" or "stage"), customer_ids (set of ints).
activity_recorded = Signal()
