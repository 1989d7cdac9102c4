"""Shutdown: the node stops watching its runs; containers keep running and are found again at
the next start (:mod:`vantage6_node.runs.recovery`), undelivered outcomes stay on disk."""

from __future__ import annotations

import asyncio

from vantage6_node.runs.background import Background
from vantage6_node.runs.handle import ActiveRuns
from vantage6_node.runs.reporter import Reporters

#: seconds the clean-ups of finished runs may still take
CLEANUP_AT_SHUTDOWN = 15.0


async def shut_down(runs: ActiveRuns, reporters: Reporters, background: Background) -> None:
    """Stop taking runs, stop following them and stop the background work."""
    runs.stopping = True
    tasks = [h.task for h in runs.values() if h.task is not None]
    for task in tasks:
        task.cancel()
    await reporters.stop_all()
    await asyncio.gather(*tasks, return_exceptions=True)
    for handle in runs.values():
        for server in handle.relays:
            server.close()
    # finish the clean-ups of runs that are done (without waiting for deliveries any
    # longer); everything else in the background stops here
    await background.stop(CLEANUP_AT_SHUTDOWN)
