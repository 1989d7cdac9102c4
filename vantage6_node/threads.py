"""Blocking calls (the container runtime) from asyncio, on daemon threads.

The runtime interface is synchronous and some of its calls block for as long as a container
runs (``wait``, ``stream_logs``). They run on daemon threads, so that neither a thread pool's
size limits how many runs can be watched at once nor a running container keeps a stopping
node's process alive.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")


async def in_thread(fn: Callable[..., T], *args: Any) -> T:
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def target() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting coroutine
            try:
                loop.call_soon_threadsafe(settle, False, exc)
            except RuntimeError:  # loop closed
                pass
            return
        try:
            loop.call_soon_threadsafe(settle, True, value)
        except RuntimeError:
            pass

    threading.Thread(target=target, daemon=True, name=getattr(fn, "__name__", "call")).start()
    return await future


async def iterate_in_thread(make: Callable[[], Iterator[T]]) -> AsyncIterator[T]:
    """Consume a blocking iterator on a daemon thread, yielding its items here."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, Any]] = asyncio.Queue()

    def put(item: tuple[int, Any]) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:
            pass

    def target() -> None:
        try:
            for item in make():
                put((0, item))
        except BaseException as exc:  # noqa: BLE001
            put((2, exc))
            return
        put((1, None))

    threading.Thread(target=target, daemon=True, name="iterate").start()
    while True:
        kind, value = await queue.get()
        if kind == 0:
            yield value
        elif kind == 1:
            return
        else:
            raise value
