"""One reconnect/restart backoff for every part of scanbridge that retries.

Used by the WebSocket client's reconnect, the Redis backplane's reconnect and
the restart of crashed scanner sources: exponential, capped, with jitter (the
upper half of the delay, drawn at random, so many clients do not retry in step).
"""

from __future__ import annotations

import random

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(attempt: int, base: float, cap: float) -> float:
    """Delay before retry ``attempt`` (0-based): the upper half of
    ``min(cap, base * 2**attempt)``, drawn at random."""
    delay = min(cap, base * 2 ** min(max(attempt, 0), 32))
    return delay / 2 + random.random() * delay / 2


class Backoff:
    """Successive delays: ``next()`` for each failed try, ``reset()`` after a success."""

    __slots__ = ("attempt", "base", "cap")

    def __init__(self, base: float, cap: float) -> None:
        if not 0 < base <= cap:
            raise ValueError(f"backoff needs 0 < base <= cap, got base={base}, cap={cap}")
        self.base = base
        self.cap = cap
        self.attempt = 0

    def next(self) -> float:
        delay = backoff_delay(self.attempt, self.base, self.cap)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        self.attempt = 0
