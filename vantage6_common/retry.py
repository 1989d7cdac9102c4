"""The one retry policy of the platform, built on tenacity.

Every place that tries again after a connection problem (the node towards its server, the
Python client, the algorithm client towards its node proxy, the CLI's checks) asks this module
for a retrier, so the waits are the same everywhere: exponential growth from ``initial``,
capped at ``cap``, each drawn from ``[d/2, d]`` ("equal jitter"). The lower half keeps retries
from hammering a server that is down; the random upper half keeps many nodes that lost the
server at the same moment from coming back in lockstep.

Use it as::

    for attempt in retrying(on=ServerUnavailable, attempts=3):
        with attempt:
            ...

or ``async for attempt in aretrying(...)`` in asynchronous code. When the retries run out the
last exception is raised as it was (never wrapped in tenacity's ``RetryError``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import tenacity
from tenacity import wait_exponential, wait_random_exponential

#: node towards its server: first wait about half a second, at most half a minute
SERVER_INITIAL = 0.5
SERVER_CAP = 30.0
#: one request that may go on for a while (a read during a short outage)
REQUEST_INITIAL = 0.25
REQUEST_CAP = 10.0

ExceptionTypes = type[BaseException] | tuple[type[BaseException], ...]


def jittered_wait(
    initial: float = SERVER_INITIAL, cap: float = SERVER_CAP
) -> tenacity.wait.wait_base:
    """Capped exponential wait with equal jitter: ``d/2 + uniform(0, d/2)``."""
    if initial <= 0 or cap < initial:
        raise ValueError("need 0 < initial <= cap")
    half, half_cap = initial / 2, cap / 2
    return wait_exponential(multiplier=half, max=half_cap) + wait_random_exponential(
        multiplier=half, max=half_cap
    )


def _stop(attempts: int | None, within: float | None, event: asyncio.Event | None) -> Any:
    stop: Any = tenacity.stop_never
    if attempts is not None:
        stop = stop | tenacity.stop_after_attempt(max(1, attempts))
    if within is not None:
        stop = stop | tenacity.stop_after_delay(within)
    if event is not None:
        stop = stop | (lambda _state: event.is_set())
    return stop


def _within(wait: Callable[[tenacity.RetryCallState], float], within: float | None) -> Any:
    """``wait``, but never past the end of ``within`` (the last try comes at the deadline)."""
    if within is None:
        return wait

    def clipped(state: tenacity.RetryCallState) -> float:
        return max(0.0, min(wait(state), within - (state.seconds_since_start or 0.0)))

    return clipped


def _before_sleep(log: logging.Logger | None, what: str, level: int) -> Callable[..., None]:
    def report(state: tenacity.RetryCallState) -> None:
        if log is None or state.outcome is None or state.next_action is None:
            return
        exc = state.outcome.exception()
        log.log(level, "%s: %s; retrying in %.1fs", what, exc, state.next_action.sleep)

    return report


def _options(
    on: ExceptionTypes,
    attempts: int | None,
    within: float | None,
    initial: float,
    cap: float,
    log: logging.Logger | None,
    what: str,
    level: int,
    stop_event: asyncio.Event | None = None,
) -> dict[str, Any]:
    return {
        "retry": tenacity.retry_if_exception_type(on),
        "stop": _stop(attempts, within, stop_event),
        "wait": _within(jittered_wait(initial, cap), within),
        "before_sleep": _before_sleep(log, what, level),
        "reraise": True,
    }


def retrying(
    on: ExceptionTypes,
    *,
    attempts: int | None = None,
    within: float | None = None,
    initial: float = SERVER_INITIAL,
    cap: float = SERVER_CAP,
    log: logging.Logger | None = None,
    what: str = "request",
    level: int = logging.DEBUG,
) -> tenacity.Retrying:
    """A synchronous retrier: retry on ``on`` for at most ``attempts`` tries or ``within``
    seconds (neither: until it succeeds)."""
    return tenacity.Retrying(**_options(on, attempts, within, initial, cap, log, what, level))


def aretrying(
    on: ExceptionTypes,
    *,
    attempts: int | None = None,
    within: float | None = None,
    initial: float = SERVER_INITIAL,
    cap: float = SERVER_CAP,
    stop_event: asyncio.Event | None = None,
    log: logging.Logger | None = None,
    what: str = "request",
    level: int = logging.DEBUG,
) -> tenacity.AsyncRetrying:
    """An asynchronous retrier; ``stop_event`` ends the waiting at once (the last exception is
    raised when it is set)."""
    options = _options(on, attempts, within, initial, cap, log, what, level, stop_event)
    if stop_event is not None:
        options["sleep"] = _interruptible_sleep(stop_event)
    return tenacity.AsyncRetrying(**options)


def _interruptible_sleep(event: asyncio.Event) -> Callable[[float], Any]:
    async def sleep(seconds: float) -> None:
        try:
            await asyncio.wait_for(event.wait(), timeout=seconds)
        except TimeoutError:
            return

    return sleep
