"""The lifecycle of runs on this node.

For every run the server hands us (``sync``, ``new_task``)::

    policy check -> input decrypted -> container token -> image present -> forwarder + proxy
    socket -> algorithm container -> (live logs) -> exit -> outcome on disk -> delivered

Every step that matters after a restart is written to the run's ``state.json`` first, and the
containers carry labels with the node instance and run id, so :mod:`vantage6_node.runs.recovery`
can pick up where a stopped node left off.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import datetime as dt
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vantage6_common.events import Event, status_change
from vantage6_common.related import related_id
from vantage6_common.status import RunStatus
from vantage6_node.config import NodeConfig
from vantage6_node.encryption import NodeEncryption
from vantage6_node.exitwatch import ExitWatcher
from vantage6_node.isolation import (
    LABEL_INSTANCE,
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_TASK,
    PROXY_SOCKET,
    ROLE_ALGORITHM,
    Forwarder,
    ForwarderPool,
    start_tcp_relay,
)
from vantage6_node.logfiles import LogFiles
from vantage6_node.policies import PolicyChecker, TaskOrigin
from vantage6_node.proxy import NodeProxy, RunContext
from vantage6_node.runs.environment import build_plan, requested_labels
from vantage6_node.runs.folder import (
    CONTAINER_DATA_DIR,
    CONTAINER_TMP_DIR,
    PHASE_DONE,
    PHASE_RECEIVED,
    PHASE_REPORTING,
    PHASE_RUNNING,
    PHASE_STARTING,
    RunFolder,
    RunState,
    RunStore,
)
from vantage6_node.runs.reporter import Reporter, final_report
from vantage6_node.runs.safe_files import UnsafeFile
from vantage6_node.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerStartError,
    ImageNotFound,
    ImagePullError,
    Mount,
    RunSpec,
    network_of_container,
)
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable
from vantage6_node.threads import in_thread, iterate_in_thread

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
LOG_FLUSH_SECONDS = 0.25
IMAGE_CACHE_SECONDS = 60.0
INITIALIZING_AFTER = 0.5
ACTIVE_AFTER = 0.2
FLUSH_AFTER = 1.0
CLEANUP_WAIT = 5.0
CLEANUP_AT_SHUTDOWN = 15.0
MAX_KEPT_LINES = 5000


def utcnow() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


@dataclass
class NodeIdentity:
    node_id: int
    organization_id: int
    collaboration_id: int
    instance_id: str
    name: str = ""


class RunFailure(Exception):
    """A run cannot go on; ``status`` is what the server is told."""

    def __init__(self, status: RunStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RunHandle:
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


Emit = Callable[[str, Any], Awaitable[bool]]


class RunManager:
    def __init__(
        self,
        *,
        config: NodeConfig,
        identity: NodeIdentity,
        store: RunStore,
        runtime: ContainerRuntime,
        api: ServerAPI,
        encryption: NodeEncryption,
        proxy: NodeProxy,
        forwarders: ForwarderPool,
        emit: Emit,
        exit_watcher: ExitWatcher | None = None,
        log_files: LogFiles | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.store = store
        self.runtime = runtime
        self.api = api
        self.encryption = encryption
        self.proxy = proxy
        self.forwarders = forwarders
        self.emit = emit
        self.exit_watcher = exit_watcher
        self.log_files = log_files
        self.policies = PolicyChecker(config.policies)
        self.handles: dict[int, RunHandle] = {}
        self.reporters: dict[int, Reporter] = {}
        self._slots = asyncio.Semaphore(config.max_concurrent_runs)
        self._images: dict[str, float] = {}
        self._org_keys: dict[int, tuple[float, str | None]] = {}
        self._background: set[asyncio.Task] = set()
        self._offering: set[int] = set()
        #: container tokens that came with run offers, by run id (used instead of asking)
        self._offered_tokens: dict[int, str] = {}
        #: tasks whose run for us came as an offer (their new_task needs no lookup)
        self._offered_tasks: OrderedDict[int, None] = OrderedDict()
        self._cleanup_now = asyncio.Event()
        self.stopping = False
        #: (run id, timings) of finished runs, for benchmarks and tests
        self.finished_timings: list[tuple[int, dict[str, float]]] = []

    # -- small helpers ---------------------------------------------------------------------------
    def spawn(self, coro: Awaitable[Any], name: str = "") -> asyncio.Task:
        task = asyncio.create_task(coro, name=name or None)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    def reporter_for(self, state: RunState, folder: RunFolder) -> Reporter:
        reporter = self.reporters.get(state.run_id)
        if reporter is None:
            reporter = Reporter(
                self.api,
                state,
                folder,
                encode_result=self.encode_result,
                announce=self.announce,
                share_logs=self.config.share_algorithm_logs,
                on_done=self._reporter_done,
                max_output=self.config.limits.max_output,
            )
            self.reporters[state.run_id] = reporter
        return reporter

    def _reporter_done(self, state: RunState) -> None:
        self.reporters.pop(state.run_id, None)

    async def announce(self, state: RunState, status: str) -> None:
        """Tell the collaboration (vantage6 nodes do this; our server also does it itself)."""
        self.proxy.board.bump()
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

    async def org_public_key(self, org_id: int, max_age: float = 300.0) -> str | None:
        cached = self._org_keys.get(org_id)
        if cached and time.monotonic() - cached[0] < max_age:
            return cached[1]
        org = await self.api.get_organization(org_id, retry_for=None)
        key = org.get("public_key") if isinstance(org, dict) else None
        self._org_keys[org_id] = (time.monotonic(), key)
        return key

    async def encode_result(self, state: RunState, output: bytes) -> str:
        if not self.encryption.encrypted:
            return base64.b64encode(output).decode("ascii")
        if state.init_org_id is None:
            raise RuntimeError("the task has no initiating organization to encrypt for")
        key = await self.org_public_key(state.init_org_id)
        if not key:
            # maybe uploaded since we looked
            key = await self.org_public_key(state.init_org_id, max_age=0)
        return await asyncio.to_thread(self.encryption.encrypt_for, output, key)

    # -- intake ----------------------------------------------------------------------------------
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
        while len(self._offered_tasks) > 1000:
            self._offered_tasks.popitem(last=False)
        token = data.get("container_token")
        if isinstance(token, str) and token and run_id not in self.handles:
            self._offered_tokens[run_id] = token
        await self.offer(run, source="offer")
        if run_id not in self.handles:  # not taken (already done, or the node is stopping)
            self._offered_tokens.pop(run_id, None)

    async def offer(self, run: dict[str, Any], source: str = "sync") -> None:
        """A run the server says is open for us. Idempotent."""
        if self.stopping:
            return
        run_id = related_id(run)
        if run_id is None or run_id in self.handles or run_id in self.reporters:
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
            task = run.get("task") if isinstance(run.get("task"), dict) else {}
            if not task or "image" not in task:
                try:
                    task = await self.api.get_task(related_id(run.get("task")) or 0, retry_for=30)
                except (ServerError, ServerUnavailable) as exc:
                    log.warning("run %s: cannot read its task: %s", run_id, exc)
                    return
            state = RunState(
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
            )
        if state.attempts > MAX_ATTEMPTS:
            await self._settle_without_container(
                state, RunStatus.CRASHED, f"[node] gave up after {MAX_ATTEMPTS} attempts"
            )
            return
        state.phase = PHASE_RECEIVED
        folder.create()
        folder.save_state(state)
        handle = RunHandle(state=state, folder=folder, reporter=self.reporter_for(state, folder))
        handle.mark("received")
        self.handles[run_id] = handle
        handle.task = self.spawn(self._execute(handle, run.get("input")), name=f"run-{run_id}")

    async def _settle_without_container(
        self, state: RunState, status: RunStatus, text: str
    ) -> None:
        folder = self.store.folder(state.run_id)
        folder.create()
        report = final_report(status.value, utcnow(), text, False, state.started_at)
        state.phase = PHASE_REPORTING
        state.status = status.value
        folder.save_report(report, text)
        folder.save_state(state)
        self.reporter_for(state, folder).finish()

    # -- one run ---------------------------------------------------------------------------------
    async def _execute(self, handle: RunHandle, raw_input: Any) -> None:
        state = handle.state

        async def steps() -> int:
            async with self._slots:
                await self._check_policy(state)
                self._check_labels(state)
                self._checkpoint(handle)
                state.phase = PHASE_STARTING
                state.started_at = state.started_at or utcnow()
                handle.folder.save_state(state)
                # "initializing" only for starts that take a while (e.g. an image pull);
                # quick starts go straight to "active" (one request less per run)
                timer = asyncio.get_running_loop().call_later(
                    INITIALIZING_AFTER, self._initializing, handle
                )
                try:
                    return await self._start_and_watch(handle, raw_input)
                finally:
                    timer.cancel()

        await self._guarded(handle, steps)

    def resume(self, handle: RunHandle, cid: str) -> None:
        """Follow a container started before the node restarted."""
        self.handles[handle.state.run_id] = handle
        handle.container_id = cid
        handle.task = self.spawn(
            self._guarded(handle, lambda: self.watch(handle, cid)),
            name=f"run-{handle.state.run_id}",
        )

    async def _guarded(self, handle: RunHandle, steps: Callable[[], Awaitable[int]]) -> None:
        """Run ``steps`` (returning the exit code) and settle the run whatever happens."""
        state = handle.state
        run_id = state.run_id
        try:
            exit_code = await steps()
            log_text = "\n".join(handle.log_lines)
            if handle.log_lines:
                log_text += "\n"
            if state.kill_requested:
                status = RunStatus.KILLED
            elif exit_code == 0:
                refused = await asyncio.to_thread(self._refuse_output, handle)
                status = RunStatus.COMPLETED if refused is None else RunStatus.FAILED
                if refused is not None:
                    log_text += f"[node] {refused}\n"
            else:
                status = RunStatus.CRASHED
                log_text += f"[node] the algorithm exited with code {exit_code}\n"
            await self._conclude(handle, status, log_text, has_result=status is RunStatus.COMPLETED)
        except RunFailure as failure:
            status = RunStatus.KILLED if state.kill_requested else failure.status
            text = "\n".join(handle.log_lines + [f"[node] {failure}"]) + "\n"
            log.warning("run %s: %s (%s)", run_id, failure, status.value)
            await self._conclude(handle, status, text, has_result=False)
        except asyncio.CancelledError:
            # node stopping: leave containers and state for the next start
            raise
        except ServerUnavailable as exc:
            if handle.container_id is None and not self.stopping:
                # the server went away before the algorithm started: try again when the
                # next sync lists the run (it stays open on the server)
                log.info("run %s: postponed, server unreachable (%s)", run_id, exc)
                await self._release(handle)
                self.reporters.pop(run_id, None)
                await handle.reporter.stop()
                state.phase = PHASE_RECEIVED
                state.attempts = max(0, state.attempts - 1)
                handle.folder.save_state(state)
            elif not self.stopping:
                raise
        except Exception as exc:  # noqa: BLE001
            log.exception("run %s: unexpected error", run_id)
            text = "\n".join(handle.log_lines + [f"[node] internal error: {exc!r}"]) + "\n"
            await self._conclude(handle, RunStatus.UNKNOWN_ERROR, text, False)
        finally:
            self._offered_tokens.pop(run_id, None)
            if not self.stopping:
                self.handles.pop(run_id, None)

    @staticmethod
    def _initializing(handle: RunHandle) -> None:
        if handle.container_id is None and handle.state.phase in (PHASE_STARTING, PHASE_RUNNING):
            handle.reporter.set_status(
                RunStatus.INITIALIZING.value, started_at=handle.state.started_at
            )

    @staticmethod
    def _active(handle: RunHandle) -> None:
        if handle.state.phase == PHASE_RUNNING and "container_exited" not in handle.timings:
            handle.reporter.set_status(RunStatus.ACTIVE.value, started_at=handle.state.started_at)

    def _refuse_output(self, handle: RunHandle) -> str | None:
        """Why the output file of a finished run cannot be sent (None: it can)."""
        try:
            handle.folder.output_size(self.config.limits.max_output)
        except UnsafeFile as exc:
            log.warning("run %s: output refused: %s", handle.state.run_id, exc)
            return f"the output was refused: {exc}"
        return None

    def _checkpoint(self, handle: RunHandle) -> None:
        if handle.state.kill_requested:
            raise RunFailure(RunStatus.KILLED, "killed before the algorithm started")

    @staticmethod
    def _check_labels(state: RunState) -> None:
        """Refuse a task whose database labels could inject environment variables."""
        try:
            requested_labels(state.databases)
        except ValueError as exc:
            raise RunFailure(RunStatus.FAILED, f"the task is refused: {exc}") from exc

    async def _check_policy(self, state: RunState) -> None:
        org_name = None
        if self.policies.needs_org_name and state.init_org_id is not None:
            with contextlib.suppress(ServerError):
                org = await self.api.get_organization(state.init_org_id, retry_for=60)
                org_name = org.get("name")
        store_url = None
        if self.policies.needs_store_url and state.store_id is not None:
            with contextlib.suppress(ServerError):
                store = await self.api.get_algorithm_store(state.store_id)
                store_url = store.get("url") or store.get("algorithm_store_url")
        decision = self.policies.check(
            TaskOrigin(
                image=state.image,
                init_org_id=state.init_org_id,
                init_user_id=state.init_user_id,
                init_org_name=org_name,
                store_url=store_url,
            )
        )
        if not decision.allowed:
            raise RunFailure(RunStatus.NOT_ALLOWED, f"not allowed: {decision.reason}")

    async def _ensure_image(self, image: str) -> None:
        """Make sure the image is local, pulling per policy (a failed pull costs seconds)."""
        require_pull = self.config.policies.require_algorithm_pull
        if not require_pull:
            seen = self._images.get(image)
            if seen and time.monotonic() - seen < IMAGE_CACHE_SECONDS:
                return
            if await in_thread(self.runtime.image_exists, image):
                self._images[image] = time.monotonic()
                return
        try:
            await in_thread(self.runtime.pull, image)
        except ImagePullError as exc:
            raise RunFailure(
                RunStatus.NO_DOCKER_IMAGE,
                f"image {image} could not be pulled"
                + (" and the policy requires a pull" if require_pull else "")
                + f": {exc}",
            ) from exc
        self._images[image] = time.monotonic()

    async def _forwarder(self) -> Forwarder:
        try:
            return await self.forwarders.acquire()
        except (ContainerRuntimeError, RuntimeError) as exc:
            raise RunFailure(
                RunStatus.START_FAILED, f"the network forwarder did not start: {exc}"
            ) from exc

    async def _decrypt_input(self, state: RunState, raw_input: Any) -> bytes:
        if raw_input is None:
            try:
                run = await self.api.get_run(state.run_id, retry_for=None)
            except ServerError as exc:
                raise RunFailure(RunStatus.FAILED, f"cannot read the run's input: {exc}") from exc
            raw_input = run.get("input")
        try:
            if self.encryption.encrypted:  # RSA and AES: off the event loop
                data, scheme = await asyncio.to_thread(self.encryption.decrypt_input, raw_input)
            else:  # base64 of a small input: a thread hop would cost more
                data, scheme = self.encryption.decrypt_input(raw_input)
        except Exception as exc:  # noqa: BLE001
            raise RunFailure(RunStatus.FAILED, f"cannot decrypt the input: {exc}") from exc
        state.input_scheme = scheme
        return data

    async def _container_token(self, state: RunState) -> str:
        offered = self._offered_tokens.pop(state.run_id, None)
        if offered is not None:
            return offered
        try:
            return await self.api.container_token(state.task_id, state.image, retry_for=None)
        except ServerError as exc:
            raise RunFailure(
                RunStatus.FAILED, f"could not obtain a container token: {exc.msg}"
            ) from exc

    async def _start_and_watch(self, handle: RunHandle, raw_input: Any) -> int:
        state = handle.state
        folder = handle.folder
        # independent preparations, at the same time
        image_task = asyncio.create_task(self._ensure_image(state.image))
        fwd_task = asyncio.create_task(self._forwarder())
        try:
            data, token = await asyncio.gather(
                self._decrypt_input(state, raw_input), self._container_token(state)
            )
            await image_task
            self._checkpoint(handle)
            forwarder = await fwd_task
        except BaseException:
            image_task.cancel()
            fwd_task.cancel()
            with contextlib.suppress(BaseException):
                fwd = await fwd_task
                await self.forwarders.discard(fwd)
            raise
        handle.forwarder = forwarder
        state.forwarder_id = forwarder.container_id
        state.socket_dir = str(forwarder.socket_dir)
        handle.mark("prepared")

        folder.prepare_io(data, token, self.config.isolation.container_ids)
        try:
            plan = build_plan(self.config, state.databases)
        except ValueError as exc:
            raise RunFailure(RunStatus.FAILED, f"the task is refused: {exc}") from exc
        await self._open_proxy(handle, token, plan.relays)
        for warning in plan.warnings:
            handle.log_lines.append(f"[node] {warning}")

        mounts = [
            Mount(str(folder.io_dir), CONTAINER_DATA_DIR, read_only=False),
            Mount(str(folder.tmp_dir), CONTAINER_TMP_DIR, read_only=False),
            *(Mount(m.source, m.target, read_only=True) for m in plan.mounts),
        ]
        limits = self.config.limits
        spec = RunSpec(
            image=state.image,
            env=plan.encoded_env,
            mounts=tuple(mounts),
            labels={
                LABEL_INSTANCE: self.identity.instance_id,
                LABEL_ROLE: ROLE_ALGORITHM,
                LABEL_RUN: str(state.run_id),
                LABEL_TASK: str(state.task_id),
            },
            name=f"v6run-{self.identity.instance_id[:8]}-{state.run_id}-{state.attempts}",
            network=network_of_container(forwarder.container_id),
            cpus=limits.cpus,
            memory=limits.memory,
            pids_limit=limits.pids,
            user=self.config.isolation.container_user,
        )
        state.phase = PHASE_RUNNING
        folder.save_state(state)
        self._checkpoint(handle)
        handle.mark("container_start")
        try:
            cid = await self._run_container(spec)
        except ImageNotFound:
            self._images.pop(state.image, None)
            await self._ensure_image(state.image)
            try:
                cid = await self._run_container(spec)
            except ContainerRuntimeError as exc:
                raise RunFailure(RunStatus.START_FAILED, f"container did not start: {exc}") from exc
        except ContainerRuntimeError as exc:
            raise RunFailure(RunStatus.START_FAILED, f"container did not start: {exc}") from exc
        handle.mark("container_started")
        handle.container_id = cid
        state.container_id = cid
        folder.save_state(state)
        # "active" once the algorithm has run for a moment: a run that finishes sooner goes
        # straight to its final status, and its result does not queue behind this update
        asyncio.get_running_loop().call_later(ACTIVE_AFTER, self._active, handle)
        if state.kill_requested:  # a kill that arrived while the container was starting
            with contextlib.suppress(ContainerRuntimeError):
                await in_thread(self.runtime.kill, cid)
        return await self.watch(handle, cid)

    async def _run_container(self, spec: RunSpec) -> str:
        try:
            return await in_thread(self.runtime.run, spec)
        except ContainerStartError as exc:
            text = str(exc).lower()
            if spec.name and "name" in text and ("in use" in text or "already" in text):
                # a container of an earlier attempt kept the name: it is ours, replace it
                await in_thread(self.runtime.remove, spec.name, True)
                return await in_thread(self.runtime.run, spec)
            raise

    async def _open_proxy(self, handle: RunHandle, token: str, relays: list) -> None:
        state = handle.state
        assert handle.forwarder is not None
        socket_dir = handle.forwarder.socket_dir
        await self.proxy.serve_run(
            RunContext(
                run_id=state.run_id,
                task_id=state.task_id,
                image=state.image,
                collaboration_id=state.collaboration_id,
                token=token,
            ),
            socket_dir / PROXY_SOCKET,
        )
        for relay in relays:
            server = await start_tcp_relay(socket_dir / relay.socket_name, relay.host, relay.port)
            handle.relays.append(server)

    async def watch(self, handle: RunHandle, cid: str) -> int:
        """Follow the container's output until it exits; return its exit code."""
        exited = asyncio.Event()
        streamer = asyncio.create_task(self._stream_logs(handle, cid, exited))
        try:
            code = await self._wait_exit(cid)
        except ContainerRuntimeError as exc:
            streamer.cancel()
            raise RunFailure(RunStatus.CRASHED, f"lost the container: {exc}") from exc
        handle.mark("container_exited")
        exited.set()
        lines = None
        if self.log_files is not None:
            lines = await asyncio.to_thread(self.log_files.read, cid)
        if lines is None:
            # the live stream may trail the exit; the complete log is one call away
            streamer.cancel()
            try:
                lines = (await in_thread(self.runtime.logs, cid)).splitlines()
            except ContainerRuntimeError as exc:
                log.warning("run %s: could not read the final log: %s", handle.state.run_id, exc)
        if lines is not None:
            handle.log_lines = lines
        handle.mark("logs_complete")
        handle.state.exit_code = code
        return code

    async def _wait_exit(self, cid: str) -> int:
        """Exit code of the container, noticed soon after the exit.

        With podman the exit watcher (inotify on conmon's exit files) reports at once; the
        engine is asked as well, less and less often, in case the shortcut misses. Engines
        reached over an API are asked often at first (most algorithms in a federated analysis
        finish within seconds). A CLI engine has its own ``wait`` (one process, not one per
        look).
        """
        watched = self.exit_watcher.exited(cid) if self.exit_watcher is not None else None
        try:
            if self.runtime.name != "docker":
                waiter = asyncio.ensure_future(in_thread(self.runtime.wait, cid))
                pending = {waiter} | ({watched} if watched is not None else set())
                done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                if waiter in done:
                    return waiter.result()
                code = watched.result() if watched is not None else None
                return code if code is not None else await waiter
            started = time.monotonic()
            interval = 0.2 if watched is not None else 0.01
            while True:
                if watched is not None:
                    await asyncio.wait({watched}, timeout=interval)
                    if watched.done() and watched.result() is not None:
                        return int(watched.result())
                else:
                    await asyncio.sleep(interval)
                info = await in_thread(self.runtime.inspect, cid)
                if info.state in ("exited", "dead"):
                    return info.exit_code if info.exit_code is not None else -1
                quick = time.monotonic() - started < 5 and watched is None
                interval = min(interval * 1.5, 0.05 if quick else 1.0)
        finally:
            if watched is not None and self.exit_watcher is not None:
                self.exit_watcher.forget(cid, watched)

    async def _stream_logs(self, handle: RunHandle, cid: str, exited: asyncio.Event) -> None:
        """Send the algorithm's output to the collaboration as it appears (in small batches)."""
        state = handle.state
        pending: list[str] = []
        wake = asyncio.Event()

        async def sender() -> None:
            while True:
                await wake.wait()
                wake.clear()
                await asyncio.sleep(LOG_FLUSH_SECONDS)  # gather what follows closely
                await flush()

        async def flush() -> None:
            nonlocal pending
            batch, pending = pending, []
            if batch and self.config.share_algorithm_logs:
                await self.emit(
                    Event.ALGORITHM_LOG,
                    {
                        "run_id": state.run_id,
                        "task_id": state.task_id,
                        "collaboration_id": self.identity.collaboration_id,
                        "log": "\n".join(batch) + "\n",
                    },
                )

        lines = handle.log_lines
        if self.log_files is not None and self.log_files.path(cid).exists():
            source = self.log_files.follow(cid, exited)
        else:
            source = iterate_in_thread(lambda: self.runtime.stream_logs(cid, follow=True))
        sending = asyncio.create_task(sender())
        try:
            async for line in source:
                lines.append(line)  # kept in case the complete log cannot be read at the end
                if len(lines) > MAX_KEPT_LINES:
                    del lines[: len(lines) - MAX_KEPT_LINES]
                pending.append(line)
                if len(pending) >= 200:
                    await flush()
                else:
                    wake.set()
        finally:
            sending.cancel()
            await flush()

    async def _conclude(
        self, handle: RunHandle, status: RunStatus, log_text: str, has_result: bool
    ) -> None:
        """Write the outcome to disk, hand it to the reporter, clean up containers."""
        state = handle.state
        state.status = status.value
        state.finished_at = utcnow()
        if handle.silent:
            # the server has settled this run already (finished or deleted): nothing to send
            state.phase = PHASE_DONE
            handle.folder.save_state(state)
            handle.folder.remove_payload()
            self.reporters.pop(state.run_id, None)
            await handle.reporter.stop()
            await self._release(handle)
            return
        state.phase = PHASE_REPORTING
        handle.mark("reported")
        state.timings = dict(handle.timings)
        report = final_report(
            status.value, state.finished_at, log_text, has_result, state.started_at
        )
        handle.folder.save_report(report, log_text)
        handle.folder.save_state(state)
        handle.reporter.finish()
        self.spawn(self._flush_unless_delivered(handle), name="flush")
        start = handle.timings.get("received") or handle.timings.get("resumed") or 0.0
        log.info(
            "run %s: %s; timings %s",
            state.run_id,
            status.value,
            " ".join(f"{k}=+{v - start:.3f}" for k, v in handle.timings.items()),
        )
        self.finished_timings.append((state.run_id, dict(handle.timings)))
        del self.finished_timings[:-1000]
        await self._release(handle)

    async def _flush_unless_delivered(self, handle: RunHandle) -> None:
        """Put the outcome on disk for good if the server does not take it at once."""
        try:
            await asyncio.wait_for(handle.reporter.done.wait(), FLUSH_AFTER)
        except TimeoutError:
            await asyncio.to_thread(handle.folder.flush_report)

    async def _release(self, handle: RunHandle) -> None:
        await self.proxy.stop_run(handle.state.run_id)
        for server in handle.relays:
            server.close()
        handle.relays.clear()
        cid, fwd = handle.container_id, handle.forwarder
        handle.container_id = None
        handle.forwarder = None
        self.spawn(
            self._remove_containers(cid, fwd, handle.reporter.done),
            name=f"cleanup-{handle.state.run_id}",
        )

    async def _remove_containers(
        self, cid: str | None, fwd: Forwarder | None, delivered: asyncio.Event | None = None
    ) -> None:
        if delivered is not None:
            # clean up after the delivery, not during it (it needs the machine more); the
            # exited container also lets a restarted node collect the outcome again
            waits = [asyncio.ensure_future(e.wait()) for e in (delivered, self._cleanup_now)]
            await asyncio.wait(waits, timeout=CLEANUP_WAIT, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
        if cid:
            with contextlib.suppress(Exception):
                await in_thread(self.runtime.remove, cid, True)
        if fwd is not None:
            await self.forwarders.release(fwd)

    # -- kills -----------------------------------------------------------------------------------
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
            targets = list(self.handles)
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
        handle = self.handles.get(run_id)
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

    # -- stopping --------------------------------------------------------------------------------
    async def shutdown(self) -> None:
        """Stop watching; containers keep running and are found again at the next start."""
        self.stopping = True
        tasks = [h.task for h in self.handles.values() if h.task is not None]
        for task in tasks:
            task.cancel()
        for reporter in list(self.reporters.values()):
            await reporter.stop()
        await asyncio.gather(*tasks, return_exceptions=True)
        for handle in self.handles.values():
            for server in handle.relays:
                server.close()
        # finish the clean-ups of runs that are done (without waiting for deliveries any
        # longer); everything else in the background stops here
        self._cleanup_now.set()
        cleanups = [t for t in self._background if t.get_name().startswith("cleanup-")]
        for task in list(self._background):
            if task not in cleanups:
                task.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(
                asyncio.gather(*cleanups, return_exceptions=True), CLEANUP_AT_SHUTDOWN
            )
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)

    def socket_path(self, state: RunState) -> Path | None:
        return Path(state.socket_dir) / PROXY_SOCKET if state.socket_dir else None
