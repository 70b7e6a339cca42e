"""Normalizing and checking the values customers are made of.

Plain functions raising ``ValueError`` with a message fit for an end user, so
pydantic schemas (API, CSV import) and services share one set of rules.
"""

import zoneinfo
from datetime import datetime, timedelta
from functools import cache, lru_cache

from email_validator import EmailNotValidError, validate_email

from config import clock

#: Events older than this are refused as a clock or unit mistake (seconds vs ms).
EARLIEST_EVENT_TIME = datetime.fromisoformat("2000-01-01T00:00:00+00:00")
#: Events this far in the future are refused; a little skew is tolerated.
MAX_FUTURE_SKEW = timedelta(hours=24)


@lru_cache(maxsize=100_000)
def normalize_email(raw: str) -> str:
    """Return the canonical form of an address: IDNA domain, all lower case.

    Lower-casing the local part too is what every major mailbox provider does in
    practice, and it makes "Ann@x.com" and "ann@x.com" one customer. Cached:
    full validation costs ~45 µs, and event batches name the same customers
    again and again (invalid addresses raise, so they are never cached).
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValueError(f"not a valid email address: {exc}") from None
    return result.normalized.lower()


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def check_time_zone(name: str) -> str:
    """An IANA time zone name such as "Europe/Paris"."""
    if name not in _time_zones():
        raise ValueError(f"unknown time zone {name!r}; use an IANA name such as 'Europe/Paris'")
    return name


def check_event_time(value: datetime) -> datetime:
    """An aware time between 2000 and a day from now."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("needs a time zone offset, e.g. 2026-05-01T12:00:00Z")
    if value < EARLIEST_EVENT_TIME:
        raise ValueError("is before 2000-01-01; is it in milliseconds or the wrong unit?")
    if value > clock.now() + MAX_FUTURE_SKEW:
        raise ValueError("is more than 24 hours in the future")
    return value
