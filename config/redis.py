"""One Redis client per URL and process, for the state workers share (the
send-rate bucket, the lifecycle refreshes waiting to run together)."""

from functools import cache

import redis


@cache
def redis_client(url: str) -> redis.Redis:
    # redis-py clients hold a connection pool and are safe to share between threads.
    return redis.Redis.from_url(url)
