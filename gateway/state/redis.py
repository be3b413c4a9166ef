"""Redis-backed state, shared by every worker and replica."""

from __future__ import annotations

import functools

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.state.base import StoreUnavailable


def _guarded(method):
    @functools.wraps(method)
    def wrapper(*args, **kwargs):
        try:
            return method(*args, **kwargs)
        except redis.RedisError as error:
            raise StoreUnavailable(f"redis: {type(error).__name__}") from None
    return wrapper


class RedisStore:
    """The state store on Redis; every call is bounded by the client's socket timeouts."""

    def __init__(self, client: redis.Redis, prefix: str = "gw:"):
        self._redis = client
        self._prefix = prefix

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5) -> "RedisStore":
        client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            decode_responses=True, health_check_interval=30,
            # redis-py retries timed-out calls by default; one timeout must cost one timeout.
            retry=Retry(NoBackoff(), 0))
        return cls(client)

    @_guarded
    def get(self, key: str) -> str | None:
        return self._redis.get(self._prefix + key)

    @_guarded
    def set(self, key: str, value: str, ttl: float) -> None:
        self._redis.set(self._prefix + key, value, px=_ms(ttl))

    @_guarded
    def add(self, key: str, value: str, ttl: float) -> bool:
        return bool(self._redis.set(self._prefix + key, value, px=_ms(ttl), nx=True))

    @_guarded
    def incr(self, key: str, ttl: float) -> int:
        pipe = self._redis.pipeline(transaction=True)
        pipe.incr(self._prefix + key)
        pipe.pexpire(self._prefix + key, _ms(ttl), nx=True)
        value, _ = pipe.execute()
        return int(value)

    @_guarded
    def delete(self, *keys: str) -> None:
        if keys:
            self._redis.delete(*(self._prefix + key for key in keys))

    @_guarded
    def ping(self) -> None:
        self._redis.ping()


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
