"""Finding a node's runs again after a restart, and settling runs the server no longer wants.

At start (:func:`recover`), before the first sync, the node compares three sources:

* run states on disk (``state.json`` in each run folder),
* containers carrying this node instance's label (algorithm containers name their run id),
* unix socket directories of forwarders.

A running or exited algorithm container is followed again (its exit code, output and log are
collected as usual). A run whose container is gone is started again if the server still lists
it as open (a restart; at most a few attempts). Outcomes not yet delivered are delivered.
Containers, forwarders and socket folders nobody refers to are removed.

After each sync (:func:`reconcile`), runs the node is working on that the server no longer
lists as open are looked up: killed ones are stopped and reported ``killed by user``, deleted
or otherwise finished ones are stopped silently. No run stays ``active`` forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vantage6_common.status import RunStatus
from vantage6_node.isolation import (
    LABEL_INSTANCE,
    LABEL_ROLE,
    LABEL_RUN,
    ROLE_ALGORITHM,
    ROLE_FORWARDER,
    Forwarder,
)
from vantage6_node.runs.environment import build_plan
from vantage6_node.runs.folder import (
    PHASE_DONE,
    PHASE_RECEIVED,
    PHASE_REPORTING,
    PHASE_RUNNING,
    PHASE_STARTING,
    RunState,
)
from vantage6_node.runs.handle import RunHandle
from vantage6_node.runs.safe_files import UnsafeFile, remove_tree
from vantage6_node.runtime import ContainerInfo
from vantage6_node.server_api import ServerError, ServerUnavailable
from vantage6_node.threads import in_thread

if TYPE_CHECKING:
    from vantage6_node.runs.manager import RunManager

log = logging.getLogger(__name__)

KEEP_DONE_FOR = dt.timedelta(days=1)


def _run_id(info: ContainerInfo) -> int | None:
    try:
        return int(info.labels.get(LABEL_RUN, ""))
    except ValueError:
        return None


def _old(state: RunState) -> bool:
    if not state.finished_at:
        return False
    try:
        finished = dt.datetime.fromisoformat(state.finished_at)
    except ValueError:
        return True
    if finished.tzinfo is None:
        finished = finished.replace(tzinfo=dt.UTC)
    return dt.datetime.now(dt.UTC) - finished > KEEP_DONE_FOR


async def recover(manager: RunManager) -> dict[str, list[int]]:
    """Re-attach to this instance's containers and resume unfinished work (see module doc)."""
    summary: dict[str, list[int]] = {
        "resumed": [],
        "restart": [],
        "reporting": [],
        "removed": [],
    }
    runtime = manager.runtime
    instance = manager.identity.instance_id
    containers = await in_thread(runtime.list_containers, {LABEL_INSTANCE: instance}, True)
    algorithms: dict[int, list[ContainerInfo]] = {}
    forwarders: dict[str, ContainerInfo] = {}
    for info in containers:
        role = info.labels.get(LABEL_ROLE)
        if role == ROLE_ALGORITHM and _run_id(info) is not None:
            algorithms.setdefault(_run_id(info), []).append(info)  # type: ignore[arg-type]
        elif role == ROLE_FORWARDER:
            forwarders[info.id] = info

    keep_forwarders: set[str] = set()
    keep_dirs: set[str] = set()
    doomed: list[str] = []

    for state in manager.store.all_states():
        folder = manager.store.folder(state.run_id)
        found = algorithms.pop(state.run_id, [])
        if state.phase == PHASE_DONE:
            doomed += [c.id for c in found]
            if _old(state):
                folder.remove()
            continue
        if state.phase == PHASE_REPORTING:
            doomed += [c.id for c in found]
            if state.forwarder_id:
                doomed.append(state.forwarder_id)
            manager.reporters.for_run(state, folder).finish()
            summary["reporting"].append(state.run_id)
            continue
        if state.phase not in (PHASE_STARTING, PHASE_RUNNING):
            doomed += [c.id for c in found]
            continue  # received: started again if the next sync lists it

        chosen = _pick(found, state)
        doomed += [c.id for c in found if chosen is None or c.id != chosen.id]
        if chosen is not None and chosen.state in ("running", "exited", "paused"):
            handle = RunHandle(
                state=state, folder=folder, reporter=manager.reporters.for_run(state, folder)
            )
            handle.mark("resumed")
            if state.forwarder_id and state.socket_dir:
                handle.forwarder = Forwarder(state.forwarder_id, Path(state.socket_dir))
                keep_forwarders.add(_full_id(state.forwarder_id, forwarders))
                keep_dirs.add(state.socket_dir)
                if chosen.state != "exited":
                    await _reopen_proxy(manager, handle)
            state.container_id = chosen.id
            manager.resume(handle, chosen.id)
            summary["resumed"].append(state.run_id)
            continue

        if chosen is not None:
            doomed.append(chosen.id)
        if state.forwarder_id:
            doomed.append(state.forwarder_id)
        state.forwarder_id = None
        state.socket_dir = None
        state.container_id = None
        if state.kill_requested:
            await manager.conclusion.settle_without_container(
                state, RunStatus.KILLED, "[node] killed while the node was down"
            )
            continue
        state.phase = PHASE_RECEIVED
        folder.save_state(state)
        summary["restart"].append(state.run_id)

    for run_containers in algorithms.values():  # containers of runs we know nothing about
        doomed += [c.id for c in run_containers]
    # algorithm containers first: a forwarder cannot go while a container uses its network
    doomed = [c for c in doomed if c not in forwarders and not _is_forwarder(c, forwarders)]
    doomed += [cid for cid in forwarders if cid not in keep_forwarders]
    for cid in doomed:
        with contextlib.suppress(Exception):
            await in_thread(runtime.remove, cid, True)
    summary["removed"] = [len(doomed)]
    _remove_stale_socket_dirs(manager.forwarders.socket_root, keep_dirs)
    log.info(
        "recovery: resumed %s, to restart %s, to deliver %s, removed %s containers",
        summary["resumed"],
        summary["restart"],
        summary["reporting"],
        len(doomed),
    )
    return summary


def _is_forwarder(cid: str, forwarders: dict[str, ContainerInfo]) -> bool:
    return any(f.startswith(cid) or cid.startswith(f) for f in forwarders)


def _full_id(short_or_full: str, known: dict[str, ContainerInfo]) -> str:
    for cid in known:
        if cid.startswith(short_or_full) or short_or_full.startswith(cid):
            return cid
    return short_or_full


def _pick(found: list[ContainerInfo], state: RunState) -> ContainerInfo | None:
    """The container of the run's latest attempt."""
    if not found:
        return None
    for info in found:
        if state.container_id and (
            info.id.startswith(state.container_id) or state.container_id.startswith(info.id)
        ):
            return info
    suffix = f"-{state.attempts}"
    for info in found:
        if info.name.endswith(suffix):
            return info
    running = [c for c in found if c.state == "running"]
    return running[0] if running else found[-1]


async def _reopen_proxy(manager: RunManager, handle: RunHandle) -> None:
    try:
        token = handle.folder.read_token()
    except UnsafeFile as exc:
        log.warning(
            "run %s: no usable token file (%s); its container cannot use the proxy",
            handle.state.run_id,
            exc,
        )
        return
    try:
        plan = build_plan(manager.config, handle.state.databases)
    except ValueError as exc:
        log.warning("run %s: %s", handle.state.run_id, exc)
        return
    await manager.preparation.open_proxy(handle, token, plan.relays)


def _remove_stale_socket_dirs(root: Path, keep: set[str]) -> None:
    if not root.is_dir():
        return
    for child in root.iterdir():
        if child.is_dir() and not child.is_symlink() and str(child) not in keep:
            remove_tree(child)


async def reconcile(manager: RunManager, open_runs: list[dict[str, Any]], since: float) -> None:
    """Bring local work in line with the server's list of open runs (fetched at ``since``)."""
    open_ids: set[int] = set()
    for run in open_runs:
        with contextlib.suppress(TypeError, ValueError, KeyError):
            open_ids.add(int(run["id"]))
    for run in open_runs:
        await manager.offer(run)

    for run_id, handle in list(manager.handles.items()):
        if run_id in open_ids or handle.created > since:
            continue
        if handle.state.phase in (PHASE_REPORTING, PHASE_DONE):
            continue
        manager.background.spawn(_stop_if_settled(manager, run_id), name=f"settle-{run_id}")

    for state in manager.store.all_states():
        if (
            state.phase == PHASE_RECEIVED
            and state.run_id not in open_ids
            and state.run_id not in manager.handles
        ):
            # not open anymore: someone else settled it while we were away
            state.phase = PHASE_DONE
            folder = manager.store.folder(state.run_id)
            folder.save_state(state)
            folder.remove_payload()


async def _stop_if_settled(manager: RunManager, run_id: int) -> None:
    try:
        run = await manager.api.get_run(run_id, retry_for=60)
        status = run.get("status") if isinstance(run, dict) else None
    except ServerError as exc:
        if exc.status != 404:
            return
        status = None  # deleted
    except ServerUnavailable:
        return
    if status is not None and not RunStatus(status).is_finished:
        return  # still open after all (listed a moment later)
    handle = manager.handles.get(run_id)
    if handle is None:
        return
    if status != RunStatus.KILLED.value:
        handle.silent = True
    log.info("run %s: the server has it as %s; stopping it here", run_id, status or "deleted")
    await manager.kill_run(run_id)


async def wait_for_all(manager: RunManager, timeout: float) -> bool:
    """Test helper: wait until no run is being executed or reported."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while manager.handles or manager.reporters:
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True
