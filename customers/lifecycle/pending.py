"""Lifecycle refreshes that wait a moment in Redis, to run together.

The API records events a thousand at a time and one refresh serves them all;
provider webhooks bring one event per request, and a refresh of its own per
event cost about two thirds of each webhook's time (a refresh is a fixed
dozen queries, for one customer or a thousand). With workers and Redis, the
``(customer id, event name)`` pairs a commit touched go into one Redis set
and the first of them schedules a drain ``LADDER_LIFECYCLE_COALESCE_SECONDS``
later; everything that arrives meanwhile rides along. Without Redis (the
embedded default runs tasks in-process) each commit refreshes its own.

A drain that fails puts its pairs back; a worker that dies mid-drain loses
them, and the nightly sweep catches up, as it does for any failed refresh.
"""

from collections.abc import Iterable

from config.redis import redis_client

#: The pairs waiting, as "<customer id> <name>" members (a set: repeats fold).
PENDING_KEY = "ladder:lifecycle:pending"
#: Set while a drain is scheduled, so the next activity does not schedule another.
SCHEDULED_KEY = "ladder:lifecycle:scheduled"
#: A scheduled flag older than this is stale (its task was lost): schedule again.
SCHEDULED_TTL_SECONDS = 60


def pending_add(url: str, pairs: Iterable[tuple[int, str]]) -> bool:
    """Add pairs to the set; True when no drain was scheduled (the caller schedules one)."""
    members = [f"{customer_id} {name}" for customer_id, name in pairs]
    if not members:
        return False
    pipe = redis_client(url).pipeline()
    pipe.sadd(PENDING_KEY, *members)
    pipe.set(SCHEDULED_KEY, 1, nx=True, ex=SCHEDULED_TTL_SECONDS)
    return bool(pipe.execute()[1])


def pending_open(url: str) -> None:
    """Called as a drain starts: activity from now on schedules the next drain,
    so nothing added while this one runs can wait for a drain that never comes."""
    redis_client(url).delete(SCHEDULED_KEY)


def pending_take(url: str, count: int) -> list[tuple[int, str]]:
    """Up to ``count`` waiting pairs, removed from the set."""
    taken = redis_client(url).spop(PENDING_KEY, count) or []
    pairs = (member.decode().split(" ", 1) for member in taken)
    return [(int(customer_id), name) for customer_id, name in pairs]


def pending_return(url: str, pairs: Iterable[tuple[int, str]]) -> bool:
    """Put back pairs a failed drain took; True when the caller must schedule a drain."""
    return pending_add(url, pairs)
