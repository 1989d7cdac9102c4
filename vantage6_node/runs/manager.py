"""The lifecycle of runs on this node: the coordinator of the run stages.

For every run the server hands us (``sync``, ``new_task``, ``run_offer``)::

    intake -> preparation (policy check, image, forwarder, input, token, proxy socket)
    -> launch (algorithm container) -> watch (live logs, exit) -> conclusion (outcome on
    disk, containers released) -> reporter (delivered)

Every step that matters after a restart is written to the run's ``state.json`` first, and the
containers carry labels with the node instance and run id, so :mod:`vantage6_node.runs.recovery`
can pick up where a stopped node left off. Kills (:mod:`~vantage6_node.runs.kill`) and the
node's shutdown (:mod:`~vantage6_node.runs.shutdown`) act on the runs in progress.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from vantage6_common.registry import manifest_digest
from vantage6_node.algorithm_store import StoreCheck, StoreReader
from vantage6_node.blobs import Blobs
from vantage6_node.config import NodeConfig
from vantage6_node.identity import NodeIdentity
from vantage6_node.isolation import ForwarderPool
from vantage6_node.org_keys import OrgKeys
from vantage6_node.policies import PolicyChecker
from vantage6_node.proxy import NodeProxy
from vantage6_node.runs.announce import Announcer, Emit
from vantage6_node.runs.background import Background
from vantage6_node.runs.conclusion import Conclusion
from vantage6_node.runs.folder import PHASE_STARTING, RunStore
from vantage6_node.runs.handle import ActiveRuns, RunFailure, RunHandle, utcnow
from vantage6_node.runs.intake import Intake, OfferedTokens
from vantage6_node.runs.kill import Killer
from vantage6_node.runs.launch import INITIALIZING_AFTER, Launcher, report_initializing
from vantage6_node.runs.preparation import AlgorithmImages, Preparation
from vantage6_node.runs.reporter import Reporters
from vantage6_node.runs.result_encoder import ResultEncoder
from vantage6_node.runs.shutdown import shut_down
from vantage6_node.runs.watch import Watcher
from vantage6_node.runtime import ContainerRuntime, ExitNotifier, LogReader
from vantage6_node.server_api import ServerAPI, ServerUnavailable

log = logging.getLogger(__name__)

__all__ = ["NodeIdentity", "RunHandle", "RunManager"]


class RunManager:
    """Takes runs in and carries each through the stages; settles it whatever happens."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        identity: NodeIdentity,
        store: RunStore,
        runtime: ContainerRuntime,
        api: ServerAPI,
        org_keys: OrgKeys,
        proxy: NodeProxy,
        forwarders: ForwarderPool,
        emit: Emit,
        exit_watcher: ExitNotifier | None = None,
        log_files: LogReader | None = None,
    ) -> None:
        self.config = config
        self.identity = identity
        self.store = store
        self.runtime = runtime
        self.api = api
        self.forwarders = forwarders
        self.policies = PolicyChecker(config.policies, digest_of=manifest_digest)
        self.handles = ActiveRuns()
        self.background = Background()
        self._slots = asyncio.Semaphore(config.max_concurrent_runs)
        announcer = Announcer(identity, emit, proxy.board)
        blobs = Blobs(api)
        self.reporters = Reporters(
            api,
            ResultEncoder(org_keys),
            announcer,
            share_logs=config.share_algorithm_logs,
            max_output=config.limits.max_output,
            blobs=blobs,
            max_blob=config.limits.max_blob,
        )
        tokens = OfferedTokens()
        self.tokens = tokens
        images = AlgorithmImages(runtime, config.policies.require_algorithm_pull)
        self.conclusion = Conclusion(
            store=store,
            runtime=runtime,
            proxy=proxy,
            forwarders=forwarders,
            reporters=self.reporters,
            background=self.background,
            max_output=config.limits.max_output,
            max_blob=config.limits.max_blob,
        )
        self.intake = Intake(
            identity=identity,
            api=api,
            store=store,
            runs=self.handles,
            reporters=self.reporters,
            conclusion=self.conclusion,
            tokens=tokens,
            execute=self._execute,
        )
        self.preparation = Preparation(
            config=config,
            api=api,
            encryption=org_keys.encryption,
            policies=self.policies,
            images=images,
            forwarders=forwarders,
            proxy=proxy,
            tokens=tokens,
            stores=StoreCheck(
                api,
                config.policies.allowed_algorithm_stores or [],
                StoreReader(config.api_url),
                digest_of=manifest_digest,
            ),
            blobs=blobs,
        )
        self.launcher = Launcher(config=config, identity=identity, runtime=runtime, images=images)
        self.watcher = Watcher(
            runtime=runtime,
            announcer=announcer,
            share_logs=config.share_algorithm_logs,
            exit_watcher=exit_watcher,
            log_files=log_files,
        )
        self.killer = Killer(identity, runtime, self.handles)

    # what the node and the recovery call -------------------------------------------------------
    async def fetch_task(self, task_id: int) -> None:
        await self.intake.fetch_task(task_id)

    async def take_offer(self, data: Any) -> None:
        await self.intake.take_offer(data)

    async def offer(self, run: dict[str, Any], source: str = "sync") -> None:
        await self.intake.offer(run, source)

    async def kill(self, info: dict[str, Any]) -> list[int]:
        return await self.killer.kill(info)

    async def kill_run(self, run_id: int) -> bool:
        return await self.killer.kill_run(run_id)

    async def shutdown(self) -> None:
        """Stop watching; containers keep running and are found again at the next start."""
        await shut_down(self.handles, self.reporters, self.background)

    @property
    def stopping(self) -> bool:
        return self.handles.stopping

    @property
    def finished_timings(self) -> list[tuple[int, dict[str, float]]]:
        """(run id, timings) of finished runs, for benchmarks and tests."""
        return self.conclusion.finished_timings

    # one run -----------------------------------------------------------------------------------
    def _execute(self, handle: RunHandle, raw_input: Any) -> None:
        """Carry a run just taken in through all stages (in the background)."""
        handle.task = self.background.spawn(
            self._guarded(handle, lambda: self._all_stages(handle, raw_input)),
            name=f"run-{handle.state.run_id}",
        )

    def resume(self, handle: RunHandle, cid: str) -> None:
        """Follow a container started before the node restarted."""
        self.handles[handle.state.run_id] = handle
        handle.container_id = cid
        handle.task = self.background.spawn(
            self._guarded(handle, lambda: self.watcher.watch(handle, cid)),
            name=f"run-{handle.state.run_id}",
        )

    async def _all_stages(self, handle: RunHandle, raw_input: Any) -> int:
        state = handle.state
        async with self._slots:
            await self.preparation.check(state)
            handle.checkpoint()
            state.phase = PHASE_STARTING
            state.started_at = state.started_at or utcnow()
            handle.folder.save_state(state)
            timer = asyncio.get_running_loop().call_later(
                INITIALIZING_AFTER, report_initializing, handle
            )
            try:
                plan = await self.preparation.prepare(handle, raw_input)
                cid = await self.launcher.launch(handle, plan)
                return await self.watcher.watch(handle, cid)
            finally:
                timer.cancel()

    async def _guarded(self, handle: RunHandle, stages: Callable[[], Awaitable[int]]) -> None:
        """Run ``stages`` (returning the exit code) and settle the run whatever happens."""
        run_id = handle.state.run_id
        try:
            exit_code = await stages()
            await self.conclusion.exited(handle, exit_code)
        except RunFailure as failure:
            await self.conclusion.failed(handle, failure)
        except asyncio.CancelledError:
            # node stopping: leave containers and state for the next start
            raise
        except ServerUnavailable as exc:
            if handle.container_id is None and not self.stopping:
                # the server went away before the algorithm started: try again when the
                # next sync lists the run (it stays open on the server)
                log.info("run %s: postponed, server unreachable (%s)", run_id, exc)
                await self.conclusion.postpone(handle)
            elif not self.stopping:
                raise
        except Exception as exc:  # noqa: BLE001
            log.exception("run %s: unexpected error", run_id)
            await self.conclusion.crashed(handle, exc)
        finally:
            self.tokens.take(run_id)
            if not self.stopping:
                self.handles.pop(run_id, None)
