"""Kills: ``kill_containers`` from the server stops the listed runs of this node."""

from __future__ import annotations

import logging
from typing import Any

from vantage6_node.identity import NodeIdentity
from vantage6_node.runs.handle import ActiveRuns
from vantage6_node.runtime import ContainerRuntime, ContainerRuntimeError
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)


class Killer:
    """Stops runs on request; the run's own task then reports it ``killed``."""

    def __init__(self, identity: NodeIdentity, runtime: ContainerRuntime, runs: ActiveRuns) -> None:
        self.identity = identity
        self.runtime = runtime
        self.runs = runs

    async def kill(self, info: dict[str, Any]) -> list[int]:
        """``kill_containers``: stop the listed runs of this node (or all of them)."""
        if not isinstance(info, dict):
            return []
        collab = info.get("collaboration_id")
        if collab is not None and int(collab) != self.identity.collaboration_id:
            return []
        node = info.get("node_id")
        if node is not None and int(node) != self.identity.node_id:
            return []
        kill_list = info.get("kill_list")
        if kill_list is None:
            targets = list(self.runs)
        else:
            targets = [
                int(item["run_id"])
                for item in kill_list
                if isinstance(item, dict)
                and item.get("run_id") is not None
                and int(item.get("organization_id", self.identity.organization_id))
                == self.identity.organization_id
            ]
        killed = []
        for run_id in targets:
            if await self.kill_run(run_id):
                killed.append(run_id)
        return killed

    async def kill_run(self, run_id: int) -> bool:
        """Stop one run (False: this node is not working on it)."""
        handle = self.runs.get(run_id)
        if handle is None:
            return False
        log.info("run %s: kill requested", run_id)
        handle.state.kill_requested = True
        handle.folder.save_state(handle.state)
        handle.kill_event.set()
        if handle.container_id:
            try:
                await in_thread(self.runtime.kill, handle.container_id)
            except ContainerRuntimeError as exc:
                log.warning("run %s: kill failed: %s", run_id, exc)
        return True
