"""The webhook scenario's stream: every kind of event, duplicates and order
races, and an exact account of what they must leave behind."""

import random
from collections import Counter
from datetime import UTC, datetime

import orjson

from bench.webhook_stream import EVERY_FATE, Sent, stream_build

SENT_AT = datetime(2026, 5, 4, 9, 30, tzinfo=UTC)


def _sent(count: int, start: int = 1) -> list[Sent]:
    return [
        Sent(
            delivery_id=n,
            email=f"c{n}@example.com",
            message_id=f"00000000-0000-0000-0000-{n:012d}",
            tag="bench",
            click_url=f"http://127.0.0.1:8000/t/c/token{n}/1",
        )
        for n in range(start, start + count)
    ]


def _build(count=400, seed=1, **kw):
    return stream_build(
        _sent(count, kw.pop("start", 1)), sent_at=SENT_AT, rng=random.Random(seed), **kw
    )


def _records(bodies: list[bytes]) -> Counter:
    return Counter(orjson.loads(body)["RecordType"] for body in bodies)


def test_every_stream_meets_every_fate_even_a_tiny_one():
    stream = _build(count=len(EVERY_FATE))
    assert _records(stream.first + stream.second).keys() == {
        "Delivery", "Bounce", "SpamComplaint", "SubscriptionChange", "Open", "Click"
    }  # fmt: skip
    assert set(stream.expected.status.values()) == {"bounced", "delivered"}
    assert stream.expected.racing  # a Delivery record races a bounce
    assert stream.expected.withdrawn and stream.expected.suppressed


def test_it_counts_each_distinct_event_once_however_often_it_is_posted():
    stream = _build()
    distinct = set(stream.first) | set(stream.second)
    assert stream.expected.provider_events == len(distinct)
    assert stream.posts > len(distinct)  # duplicates and retries are posted too


def test_duplicates_are_posted_side_by_side_so_two_clients_send_them_together():
    stream = _build()
    first = stream.first
    repeated = [n for n in range(1, len(first)) if first[n] == first[n - 1]]
    assert repeated
    assert len(repeated) == len(first) - len(set(first))


def test_late_delivery_records_of_bounced_emails_come_in_the_second_wave():
    stream = _build()
    late = [
        pk
        for pk, status in stream.expected.status.items()
        if status == "bounced" and pk not in stream.expected.racing
    ]
    second = [orjson.loads(body) for body in stream.second]
    late_posted = {
        int(p["Metadata"]["delivery_id"]) for p in second if p["RecordType"] == "Delivery"
    }
    assert late and set(late) <= late_posted
    # The rest of the second wave is retries of first-wave posts.
    assert {b for b in stream.second if orjson.loads(b)["RecordType"] != "Delivery"} <= set(
        stream.first
    )


def test_the_expected_events_follow_each_emails_fate():
    stream = _build()
    expected = stream.expected
    for pk, status in expected.status.items():
        assert expected.events[pk, "email_bounced"] == (status == "bounced")
        assert expected.events[pk, "email_delivered"] == (status == "delivered")
    assert len(expected.suppressed) == sum(
        1
        for body in set(stream.first)
        if orjson.loads(body).get("Type") in ("HardBounce", "SpamComplaint")
    )


def test_streams_of_one_database_share_no_event_id_and_a_seed_repeats_its_stream():
    one = _build(count=300)
    two = _build(count=300, start=301, first_id=1_000_000)
    ids = [{orjson.loads(b).get("ID") for b in s.first + s.second} - {None} for s in (one, two)]
    assert ids[0] and ids[1] and not ids[0] & ids[1]
    again = _build(count=300)
    assert (again.first, again.second) == (one.first, one.second)
