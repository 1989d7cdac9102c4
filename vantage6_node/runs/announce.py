"""Telling the collaboration about this node's runs over the socket (vantage6 nodes do this;
our server also announces status changes itself)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from vantage6_common.events import Event, status_change
from vantage6_node.identity import NodeIdentity
from vantage6_node.proxy import StatusBoard
from vantage6_node.runs.folder import RunState

#: sends one socket event: (event, data) -> sent
Emit = Callable[[str, Any], Awaitable[bool]]


class Announcer:
    """Status changes and live algorithm output of runs, as socket events."""

    def __init__(self, identity: NodeIdentity, emit: Emit, board: StatusBoard) -> None:
        self.identity = identity
        self.emit = emit
        self.board = board

    async def status(self, state: RunState, status: str) -> None:
        """A status the server accepted; also wakes containers waiting for task statuses."""
        self.board.bump()
        await self.emit(
            Event.ALGORITHM_STATUS_CHANGE,
            status_change(
                status=status,
                run_id=state.run_id,
                task_id=state.task_id,
                job_id=state.job_id,
                parent_id=state.parent_id,
                collaboration_id=self.identity.collaboration_id,
                node_id=self.identity.node_id,
                organization_id=self.identity.organization_id,
            ),
        )

    async def log(self, state: RunState, lines: list[str]) -> None:
        """New lines of the algorithm's output."""
        await self.emit(
            Event.ALGORITHM_LOG,
            {
                "run_id": state.run_id,
                "task_id": state.task_id,
                "collaboration_id": self.identity.collaboration_id,
                "log": "\n".join(lines) + "\n",
            },
        )
