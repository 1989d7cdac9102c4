"""What the node keeps in memory about one run it works on, and the table of those runs."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from dataclasses import dataclass, field

from vantage6_common.status import RunStatus
from vantage6_node.isolation import Forwarder
from vantage6_node.runs.folder import RunFolder, RunState
from vantage6_node.runs.reporter import Reporter


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


class RunFailure(Exception):
    """A run cannot go on; ``status`` is what the server is told."""

    def __init__(self, status: RunStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RunHandle:
    """One run from intake until its outcome is handed to the reporter."""

    state: RunState
    folder: RunFolder
    reporter: Reporter
    task: asyncio.Task | None = None
    container_id: str | None = None
    forwarder: Forwarder | None = None
    relays: list[asyncio.AbstractServer] = field(default_factory=list)
    log_lines: list[str] = field(default_factory=list)
    kill_event: asyncio.Event = field(default_factory=asyncio.Event)
    created: float = field(default_factory=time.monotonic)
    #: the server already has a final status; stop without reporting
    silent: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    def mark(self, name: str) -> None:
        self.timings[name] = time.time()

    def checkpoint(self) -> None:
        """Stop here if a kill arrived (before the algorithm started)."""
        if self.state.kill_requested:
            raise RunFailure(RunStatus.KILLED, "killed before the algorithm started")


class ActiveRuns(dict[int, RunHandle]):
    """Runs being executed, by run id; ``stopping`` once the node no longer takes runs."""

    stopping: bool = False
