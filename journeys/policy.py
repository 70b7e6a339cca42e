"""A journey's sending policy: its own frequency cap and quiet hours, or the site's.

The engine and the simulator both ask here, so a simulation defers and caps
sends exactly as the live engine would.
"""

from datetime import time

from django.conf import settings

from journeys.document import FrequencyCap, Journey, QuietHours


def quiet_hours_from_setting(text: str) -> QuietHours | None:
    """Parse the LADDER_QUIET_HOURS setting ("21:00-08:00"; empty disables)."""
    if not text:
        return None
    start, end = (time.fromisoformat(part) for part in text.split("-"))
    return QuietHours(start, end)


def journey_frequency_cap(spec: Journey) -> FrequencyCap:
    return spec.frequency_cap or FrequencyCap(
        settings.LADDER_FREQUENCY_CAP_PER_DAY, settings.LADDER_FREQUENCY_CAP_PER_WEEK
    )


def journey_quiet_hours(spec: Journey) -> QuietHours | None:
    """None means no quiet hours; a journey's ``"quiet_hours": null`` gives
    QuietHours(00:00, 00:00), which the step functions treat as none."""
    if spec.quiet_hours is not None:
        return spec.quiet_hours
    return quiet_hours_from_setting(settings.LADDER_QUIET_HOURS)
