"""Run one call in many threads released together, and collect each one's outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable


def race(call: Callable[[int], object], count: int, refused: type[Exception], word: str) -> list[str | None]:
    """Run ``call(number)`` for ``count`` numbers in threads released together; return each
    outcome: "ok", ``word`` when it raised ``refused``, or the type name of any other
    exception (None for a thread still running after 60 s)."""
    barrier = threading.Barrier(count)
    outcomes: list[str | None] = [None] * count

    def run(number: int) -> None:
        barrier.wait()
        try:
            call(number)
            outcomes[number] = "ok"
        except refused:
            outcomes[number] = word
        except Exception as error:
            outcomes[number] = type(error).__name__

    threads = [threading.Thread(target=run, args=(number,)) for number in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes
