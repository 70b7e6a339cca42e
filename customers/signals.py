"""Signals other apps listen to; customers imports none of them.

``activity_recorded`` is sent inside the writing transaction whenever events or
stage changes are stored. Listeners must only *schedule* work with
``transaction.on_commit``: the rows themselves (``routed_at IS NULL``) are the
durable record of what still needs routing, the signal is just a nudge.
"""

from collections.abc import Callable, Collection

from django.dispatch import Signal

#: kwargs: kind ("event" or "stage"), customer_ids (set of ints).
activity_recorded = Signal()


#: Callables that return the event names a listener must route (journeys
#: registers one: its triggers, waits and goals). Events with any other name
#: are stored as already routed, so nobody rewrites rows no one waits for.
event_name_listeners: list[Callable[[], Collection[str]]] = []


def event_names_listened() -> set[str]:
    """Every event name some listener wants to route; asked once per batch."""
    return set().union(*(listener() for listener in event_name_listeners))
