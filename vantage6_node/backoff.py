"""Capped exponential backoff with jitter."""

from __future__ import annotations

import random


class Backoff:
    """Delays ``base * factor**n`` capped at ``cap``, each drawn from [d/2, d] ("equal jitter").

    The lower half keeps retries from hammering a server that is down; the random upper half
    keeps many nodes that lost the server at the same moment from coming back in lockstep.
    """

    def __init__(
        self,
        base: float = 0.5,
        cap: float = 30.0,
        factor: float = 2.0,
        rng: random.Random | None = None,
    ) -> None:
        if base <= 0 or cap < base or factor < 1:
            raise ValueError("need 0 < base <= cap and factor >= 1")
        self.base = base
        self.cap = cap
        self.factor = factor
        self.attempt = 0
        self._rng = rng or random.Random()

    def ceiling(self, attempt: int | None = None) -> float:
        n = self.attempt if attempt is None else attempt
        # avoid float overflow for long outages
        return min(self.cap, self.base * (self.factor ** min(n, 64)))

    def next(self) -> float:
        ceiling = self.ceiling()
        self.attempt += 1
        return ceiling / 2 + self._rng.uniform(0, ceiling / 2)

    def reset(self) -> None:
        self.attempt = 0
