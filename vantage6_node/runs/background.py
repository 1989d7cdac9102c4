"""Background work of the run stages (clean-ups, flushes, settling), stopped at shutdown."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

#: name prefix of clean-up tasks, which shutdown lets finish (for a while)
CLEANUP = "cleanup-"


class Background:
    """Tasks started for later; ``cleanup_now`` tells clean-ups to stop waiting."""

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task] = set()
        self.cleanup_now = asyncio.Event()

    def spawn(self, coro: Coroutine[Any, Any, Any], name: str = "") -> asyncio.Task:
        task = asyncio.create_task(coro, name=name or None)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def stop(self, cleanup_for: float) -> None:
        """Let clean-ups finish (at most ``cleanup_for`` seconds); cancel everything else."""
        self.cleanup_now.set()
        cleanups = [t for t in self.tasks if t.get_name().startswith(CLEANUP)]
        for task in list(self.tasks):
            if task not in cleanups:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*cleanups, return_exceptions=True), cleanup_for)
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
