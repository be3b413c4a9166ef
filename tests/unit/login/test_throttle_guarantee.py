"""Unit tests (no sockets, a simulated clock): the throttle's promise in numbers, as the README
states it. With the default settings an attacker who guesses as fast as the throttle allows
gets at most 18 guesses in the first hour and 4 in each hour after that."""

from __future__ import annotations

from gateway.login.throttle import AccountThrottle, Throttled, ThrottleSettings
from gateway.storage.state.memory import MemoryStore


def _guesses_per_hour(settings: ThrottleSettings, hours: int) -> list[int]:
    now = [0.0]
    throttle = AccountThrottle(MemoryStore(clock=lambda: now[0]), settings, clock=lambda: now[0])
    per_hour = [0] * hours
    while now[0] < hours * 3600:
        try:
            attempt = throttle.attempt("alice")
        except Throttled as throttled:
            now[0] += throttled.wait_seconds + 1e-6
            continue
        per_hour[int(now[0] // 3600)] += 1
        attempt.failed()
    return per_hour


def test_default_settings_allow_18_guesses_then_4_an_hour():
    assert _guesses_per_hour(ThrottleSettings(), 6) == [18, 4, 4, 4, 4, 4]


def test_the_sustained_rate_is_one_guess_per_max_delay():
    settings = ThrottleSettings(free_failures=3, base_delay_seconds=2, max_delay_seconds=600)
    assert _guesses_per_hour(settings, 4)[1:] == [6, 6, 6]
