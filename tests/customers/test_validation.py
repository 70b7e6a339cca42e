from datetime import UTC, datetime, timedelta

import pytest

from customers.validation import check_event_time, check_time_zone, normalize_email


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Ann@Example.COM", "ann@example.com"),
        ("  bob@example.com ", "bob@example.com"),
        ("zoë@bücher.de", "zoë@bücher.de"),
    ],
)
def test_it_normalizes_addresses(raw, normalized):
    assert normalize_email(raw) == normalized


@pytest.mark.parametrize("raw", ["", "no-at-sign", "a@", "@b.com", "a b@c.com", "a@b..com"])
def test_it_refuses_bad_addresses(raw):
    with pytest.raises(ValueError, match="not a valid email address"):
        normalize_email(raw)


def test_time_zones_are_iana_names():
    assert check_time_zone("Europe/Paris") == "Europe/Paris"
    with pytest.raises(ValueError, match="unknown time zone"):
        check_time_zone("CEST")


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (datetime(2026, 1, 1), "time zone offset"),  # noqa: DTZ001 - the point of the test
        (datetime(1970, 1, 21, tzinfo=UTC), "before 2000"),
        (datetime.now(UTC) + timedelta(days=3), "in the future"),
    ],
)
def test_event_times_must_be_aware_and_plausible(value, message):
    with pytest.raises(ValueError, match=message):
        check_event_time(value)
