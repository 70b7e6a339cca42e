"""A messages-per-second limit per provider that holds across every worker.

A token bucket in Redis, updated by one Lua script so that concurrent workers
never both take the last token: each call refills the bucket for the time
passed (Redis' own clock, so workers' clocks need not agree), takes what it
can, and says how long to wait for the rest. The bucket holds one second of
sending, so a burst after an idle spell stays within the provider's limit.

Without Redis (the embedded default runs one process) the same bucket lives in
the process.
"""

import threading
import time
from collections.abc import Callable
from functools import cache

from django.conf import settings

from config.redis import redis_client

# KEYS[1] bucket; ARGV: rate/s, wanted. Returns the seconds to wait (as a
# string: Lua numbers become integers on the way out) before the tokens are ours.
_TAKE = """
local rate = tonumber(ARGV[1])
local wanted = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local state = redis.call('HMGET', KEYS[1], 'tokens', 'at')
local tokens = tonumber(state[1]) or rate
local at = tonumber(state[2]) or now
tokens = math.min(rate, tokens + (now - at) * rate) - wanted
redis.call('HSET', KEYS[1], 'tokens', tokens, 'at', now)
redis.call('EXPIRE', KEYS[1], 60)
if tokens >= 0 then return '0' end
return tostring(-tokens / rate)
"""


class LocalBucket:
    """The same bucket for one process; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state: dict[str, tuple[float, float]] = {}

    def take(self, key: str, rate: float, wanted: int) -> float:
        with self._lock:
            now = time.monotonic()
            tokens, at = self._state.get(key, (rate, now))
            tokens = min(rate, tokens + (now - at) * rate) - wanted
            self._state[key] = (tokens, now)
        return 0.0 if tokens >= 0 else -tokens / rate


class RedisBucket:
    def __init__(self, url: str) -> None:
        self._script = redis_client(url).register_script(_TAKE)

    def take(self, key: str, rate: float, wanted: int) -> float:
        return float(self._script(keys=[f"ladder:send-rate:{key}"], args=[rate, wanted]))


@cache
def _bucket(url: str) -> LocalBucket | RedisBucket:
    return RedisBucket(url) if url else LocalBucket()


def acquire(provider: str, count: int, *, sleep: Callable[[float], None] = time.sleep) -> float:
    """Wait until ``count`` more messages may go to ``provider``; returns the
    seconds waited. A no-op when ``LADDER_SEND_RATE`` is 0.

    Tokens are taken before waiting, so workers queue up behind each other
    instead of all waking at once.
    """
    rate = settings.LADDER_SEND_RATE
    if rate <= 0 or count <= 0:
        return 0.0
    wait = _bucket(settings.LADDER_REDIS_URL).take(provider, rate, count)
    if wait > 0:
        sleep(wait)
    return wait
