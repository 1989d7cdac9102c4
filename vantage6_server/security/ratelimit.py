"""Per-client and per-account request limits (in memory, for one server process).

Limits are strings in the ``limits`` package's notation, e.g. ``"5/minute;20/hour"``; an empty
string switches a limit off. Several server processes each keep their own counts.
"""

from __future__ import annotations

import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


def parse_limit(spec: str) -> list[RateLimitItem]:
    """The limits in ``spec`` (ValueError when it is not valid notation)."""
    spec = (spec or "").strip()
    return parse_many(spec) if spec else []


class RateLimiter:
    """Named limits; ``hit(name, key)`` counts one request of ``key`` against limit ``name``."""

    def __init__(self, limits: dict[str, str]) -> None:
        self.limits = {name: parse_limit(spec) for name, spec in limits.items()}
        self.strategy = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, name: str, key: str) -> int | None:
        """Count one request; None when it is allowed, else the seconds until it would be."""
        items = self.limits.get(name) or []
        for item in items:
            if not self.strategy.test(item, name, key):
                reset = self.strategy.get_window_stats(item, name, key).reset_time
                return max(1, math.ceil(reset - time.time()))
        for item in items:
            self.strategy.hit(item, name, key)
        return None
