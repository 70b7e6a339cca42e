"""The one clock everything asks for the time.

Services take ``at``/``now`` arguments and default them from here. Tests move
real time with ``time_machine``; ``run_engine --advance`` and the demo run
whole simulated weeks in seconds by putting the process on a ``Simulation``,
which every default (model fields, services, tracking endpoints) then sees.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

from django.utils import timezone


class Simulation:
    """A virtual time that only moves when told to."""

    def __init__(self, start: datetime) -> None:
        if timezone.is_naive(start):
            raise ValueError("a simulation starts at an aware datetime")
        self.now = start

    def advance(self, delta: timedelta) -> datetime:
        self.now += delta
        return self.now

    def set(self, when: datetime) -> datetime:
        if when < self.now:
            raise ValueError("simulated time never runs backwards")
        self.now = when
        return self.now


_simulation: Simulation | None = None


def now() -> datetime:
    """The current aware UTC time, simulated when a simulation is running."""
    return _simulation.now if _simulation is not None else timezone.now()


@contextmanager
def simulated(start: datetime) -> Iterator[Simulation]:
    """Run the block on virtual time starting at ``start`` (process-wide)."""
    global _simulation
    previous, _simulation = _simulation, Simulation(start)
    try:
        yield _simulation
    finally:
        _simulation = previous
