"""Intake: runs the server hands this node (``sync``, ``new_task``, ``run_offer``) become run
folders and handles, each taken once however often it is offered."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from vantage6_common.related import related_id
from vantage6_common.status import RunStatus
from vantage6_node.identity import NodeIdentity
from vantage6_node.runs.conclusion import Conclusion
from vantage6_node.runs.folder import (
    PHASE_DONE,
    PHASE_RECEIVED,
    PHASE_REPORTING,
    RunState,
    RunStore,
)
from vantage6_node.runs.handle import ActiveRuns, RunHandle
from vantage6_node.runs.reporter import Reporters
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
#: tasks remembered as offered (their ``new_task`` needs no lookup)
OFFERED_TASKS_KEPT = 1000


class OfferedTokens:
    """Container tokens that came with run offers, by run id (used instead of asking)."""

    def __init__(self) -> None:
        self._tokens: dict[int, str] = {}

    def keep(self, run_id: int, token: str) -> None:
        self._tokens[run_id] = token

    def take(self, run_id: int) -> str | None:
        return self._tokens.pop(run_id, None)


class Intake:
    """Takes the runs the server says are open for this node."""

    def __init__(
        self,
        *,
        identity: NodeIdentity,
        api: ServerAPI,
        store: RunStore,
        runs: ActiveRuns,
        reporters: Reporters,
        conclusion: Conclusion,
        tokens: OfferedTokens,
        execute: Callable[[RunHandle, Any], None],
    ) -> None:
        self.identity = identity
        self.api = api
        self.store = store
        self.runs = runs
        self.reporters = reporters
        self.conclusion = conclusion
        self.tokens = tokens
        self.execute = execute
        self._offering: set[int] = set()
        self._offered_tasks: OrderedDict[int, None] = OrderedDict()

    async def fetch_task(self, task_id: int) -> None:
        """``new_task``: fetch this node's open runs of the task and start them."""
        if task_id in self._offered_tasks:
            return  # its run came with the offer just before
        runs = await self.api.open_runs(self.identity.node_id, task_id=task_id, retry_for=60)
        for run in runs:
            await self.offer(run, source="new_task")

    async def take_offer(self, data: Any) -> None:
        """``run_offer``: the server sent our run of a new task with its container token."""
        run = data.get("run") if isinstance(data, dict) else None
        if not isinstance(run, dict) or not isinstance(run.get("task"), dict):
            log.warning("ignoring a run offer without run and task")
            return
        run_id, task_id = related_id(run), related_id(run["task"])
        if run_id is None or task_id is None:
            return
        if related_id(run.get("organization")) not in (None, self.identity.organization_id):
            log.warning("ignoring the offer of run %s: not for this organization", run_id)
            return
        self._offered_tasks[task_id] = None
        while len(self._offered_tasks) > OFFERED_TASKS_KEPT:
            self._offered_tasks.popitem(last=False)
        token = data.get("container_token")
        if isinstance(token, str) and token and run_id not in self.runs:
            self.tokens.keep(run_id, token)
        await self.offer(run, source="offer")
        if run_id not in self.runs:  # not taken (already done, or the node is stopping)
            self.tokens.take(run_id)

    async def offer(self, run: dict[str, Any], source: str = "sync") -> None:
        """A run the server says is open for us. Idempotent."""
        if self.runs.stopping:
            return
        run_id = related_id(run)
        if run_id is None or run_id in self.runs or run_id in self.reporters:
            return
        if run_id in self._offering:
            return  # the same run offered twice at once (sync and new_task)
        self._offering.add(run_id)
        try:
            await self._take(run_id, run, source)
        finally:
            self._offering.discard(run_id)

    async def _take(self, run_id: int, run: dict[str, Any], source: str) -> None:
        folder = self.store.folder(run_id)
        state = folder.load_state()
        if state is not None:
            if state.phase in (PHASE_DONE, PHASE_REPORTING):
                return
            state.attempts += 1
        else:
            state = await self._new_state(run_id, run, source)
            if state is None:
                return
        if state.attempts > MAX_ATTEMPTS:
            await self.conclusion.settle_without_container(
                state, RunStatus.CRASHED, f"[node] gave up after {MAX_ATTEMPTS} attempts"
            )
            return
        state.phase = PHASE_RECEIVED
        folder.create()
        folder.save_state(state)
        handle = RunHandle(
            state=state, folder=folder, reporter=self.reporters.for_run(state, folder)
        )
        handle.mark("received")
        self.runs[run_id] = handle
        self.execute(handle, run.get("input"))

    async def _new_state(self, run_id: int, run: dict[str, Any], source: str) -> RunState | None:
        """The state of a run seen for the first time (None: its task cannot be read)."""
        task = run.get("task") if isinstance(run.get("task"), dict) else {}
        if not task or "image" not in task:
            try:
                task = await self.api.get_task(related_id(run.get("task")) or 0, retry_for=30)
            except (ServerError, ServerUnavailable) as exc:
                log.warning("run %s: cannot read its task: %s", run_id, exc)
                return None
        return RunState(
            run_id=run_id,
            task_id=int(task["id"]),
            image=str(task.get("image") or ""),
            job_id=task.get("job_id"),
            parent_id=related_id(task.get("parent")) or task.get("parent_id"),
            collaboration_id=related_id(task.get("collaboration"))
            or self.identity.collaboration_id,
            init_org_id=related_id(task.get("init_org")) or task.get("init_org_id"),
            init_user_id=related_id(task.get("init_user")) or task.get("init_user_id"),
            store_id=related_id(task.get("algorithm_store")),
            databases=list(task.get("databases") or []),
            attempts=1,
            source=source,
            blob_storage_used=bool(run.get("blob_storage_used")),
        )
