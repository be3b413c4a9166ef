"""Redis-backed state, shared by every worker and replica."""

from __future__ import annotations

import functools
from typing import cast

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from gateway.storage.state.base import AttemptOutcome, StoreUnavailable, ThrottleLimits, throttle_keys

# KEYS: lock-out end, failure count, reservations (a sorted set scored by expiry).
# ARGV: now, token, free failures, hold seconds. Returns the wait, "-1" (full) or "0" (reserved);
# numbers travel as strings because Redis truncates a script's Lua numbers to integers.
_BEGIN_ATTEMPT = """
local now = tonumber(ARGV[1])
local untilv = redis.call('GET', KEYS[1])
if untilv and tonumber(untilv) > now then return tostring(tonumber(untilv) - now) end
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
local failures = tonumber(redis.call('GET', KEYS[2]) or '0')
local capacity = math.max(1, tonumber(ARGV[3]) + 1 - failures)
if redis.call('ZCARD', KEYS[3]) >= capacity then return '-1' end
redis.call('ZADD', KEYS[3], now + tonumber(ARGV[4]), ARGV[2])
redis.call('PEXPIRE', KEYS[3], math.ceil(tonumber(ARGV[4]) * 1000))
return '0'
"""

# ARGV: now, token ('' for none), outcome (s/f/n), free failures, base delay, max delay, window.
_END_ATTEMPT = """
local now = tonumber(ARGV[1])
if ARGV[2] ~= '' then redis.call('ZREM', KEYS[3], ARGV[2]) end
if ARGV[3] == 's' then redis.call('DEL', KEYS[1], KEYS[2]) return '0' end
if ARGV[3] ~= 'f' then return '0' end
local failures = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], math.max(1, math.floor(tonumber(ARGV[7]) * 1000)))
local excess = failures - tonumber(ARGV[4])
if excess <= 0 then return '0' end
local delay = math.min(tonumber(ARGV[6]), tonumber(ARGV[5]) * 2 ^ math.min(excess - 1, 40))
redis.call('SET', KEYS[1], string.format('%.6f', now + delay),
           'PX', math.max(1, math.floor(delay * 1000)))
return string.format('%.6f', delay)
"""


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
        self._begin_attempt = client.register_script(_BEGIN_ATTEMPT)
        self._end_attempt = client.register_script(_END_ATTEMPT)

    @classmethod
    def from_url(cls, url: str, *, timeout: float = 0.5) -> RedisStore:
        client = redis.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            decode_responses=True,
            health_check_interval=30,
            # redis-py retries timed-out calls by default; one timeout must cost one timeout.
            retry=Retry(NoBackoff(), 0),
        )
        return cls(client)

    @_guarded
    def get(self, key: str) -> str | None:
        # The client decodes replies (decode_responses=True), which redis-py's types cannot see.
        return cast("str | None", self._redis.get(self._prefix + key))

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

    @_guarded
    def begin_attempt(
        self, account: str, token: str, now: float, limits: ThrottleLimits, hold_seconds: float
    ) -> float:
        keys = [self._prefix + key for key in throttle_keys(account)]
        return float(
            self._begin_attempt(keys=keys, args=[repr(now), token, limits.free_failures, repr(hold_seconds)])
        )

    @_guarded
    def end_attempt(
        self, account: str, token: str | None, now: float, limits: ThrottleLimits, outcome: AttemptOutcome
    ) -> float:
        keys = [self._prefix + key for key in throttle_keys(account)]
        return float(
            self._end_attempt(
                keys=keys,
                args=[
                    repr(now),
                    token or "",
                    outcome.value,
                    limits.free_failures,
                    repr(limits.base_delay_seconds),
                    repr(limits.max_delay_seconds),
                    repr(limits.window_seconds),
                ],
            )
        )


def _ms(seconds: float) -> int:
    return max(1, int(seconds * 1000))
