"""The one clock everything asks for the time.

Services take ``at``/``now`` arguments and default them from here, so tests move
time with ``time_machine`` and simulations pass their own virtual time.
"""

from datetime import datetime

from django.utils import timezone


def now() -> datetime:
    """The current aware UTC time."""
    return timezone.now()
