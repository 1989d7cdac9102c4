"""The retry policy: jittered capped waits, stops, and the last error raised as it was."""

from __future__ import annotations

import asyncio
import random
import time

import pytest
import tenacity

from vantage6_common.retry import aretrying, jittered_wait, retrying


def _state(attempt: int) -> tenacity.RetryCallState:
    state = tenacity.RetryCallState(None, None, (), {})
    state.attempt_number = attempt
    return state


def test_waits_grow_cap_and_jitter():
    random.seed(1)
    wait = jittered_wait(initial=0.5, cap=8.0)
    for attempt in range(1, 12):
        ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
        delay = wait(_state(attempt))
        assert ceiling / 2 <= delay <= ceiling
    spread = {round(jittered_wait(1, 1)(_state(1)), 6) for _ in range(20)}
    assert len(spread) > 10  # jitter spreads nodes that lost the server together


def test_retries_then_raises_the_last_error_itself():
    calls = []

    def flaky() -> None:
        calls.append(1)
        raise ConnectionError(f"try {len(calls)}")

    with pytest.raises(ConnectionError, match="try 3"):
        for attempt in retrying(ConnectionError, attempts=3, initial=0.01, cap=0.02):
            with attempt:
                flaky()
    assert len(calls) == 3


def test_other_errors_are_not_retried():
    calls = []
    with pytest.raises(ValueError):
        for attempt in retrying(ConnectionError, attempts=5, initial=0.01, cap=0.02):
            with attempt:
                calls.append(1)
                raise ValueError("no")
    assert len(calls) == 1


def test_stop_event_ends_a_long_wait():
    async def scenario() -> float:
        stop = asyncio.Event()
        asyncio.get_running_loop().call_later(0.3, stop.set)
        start = time.monotonic()
        with pytest.raises(ConnectionError):
            async for attempt in aretrying(ConnectionError, initial=30, cap=60, stop_event=stop):
                with attempt:
                    raise ConnectionError("down")
        return time.monotonic() - start

    assert asyncio.run(scenario()) < 5


def test_retrying_within_a_time_ends_near_its_deadline():
    start = time.monotonic()
    with pytest.raises(ConnectionError):
        for attempt in retrying(ConnectionError, within=1.0, initial=0.4, cap=5.0):
            with attempt:
                raise ConnectionError("down")
    assert 0.9 < time.monotonic() - start < 1.5  # the waits are cut at the deadline
