"""Conclusion: a run's outcome (status and log) written to its folder and handed to its
reporter, and its proxy socket, relays, container and forwarder released."""

from __future__ import annotations

import asyncio
import contextlib
import logging

from vantage6_common.status import RunStatus
from vantage6_node.config import DEFAULT_MAX_BLOB
from vantage6_node.isolation import Forwarder, ForwarderPool
from vantage6_node.proxy import NodeProxy
from vantage6_node.runs.background import CLEANUP, Background
from vantage6_node.runs.folder import (
    PHASE_DONE,
    PHASE_RECEIVED,
    PHASE_REPORTING,
    RunState,
    RunStore,
)
from vantage6_node.runs.handle import RunFailure, RunHandle, utcnow
from vantage6_node.runs.reporter import Reporters, final_report
from vantage6_node.runs.safe_files import UnsafeFile
from vantage6_node.runtime import ContainerRuntime
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)

#: seconds the outcome may wait for its delivery before it is flushed to disk for good
FLUSH_AFTER = 1.0
#: seconds a clean-up waits for the delivery of the outcome first
CLEANUP_WAIT = 5.0
#: finished runs whose timings are kept (benchmarks and tests)
TIMINGS_KEPT = 1000


class Conclusion:
    """Settles runs: outcome on disk, reporter told, everything the run used released."""

    def __init__(
        self,
        *,
        store: RunStore,
        runtime: ContainerRuntime,
        proxy: NodeProxy,
        forwarders: ForwarderPool,
        reporters: Reporters,
        background: Background,
        max_output: int,
        max_blob: int = DEFAULT_MAX_BLOB,
    ) -> None:
        self.max_blob = max_blob
        self.store = store
        self.runtime = runtime
        self.proxy = proxy
        self.forwarders = forwarders
        self.reporters = reporters
        self.background = background
        self.max_output = max_output
        #: (run id, timings) of finished runs, for benchmarks and tests
        self.finished_timings: list[tuple[int, dict[str, float]]] = []

    # outcomes ----------------------------------------------------------------------------------
    async def exited(self, handle: RunHandle, exit_code: int) -> None:
        """The algorithm's container exited with ``exit_code``."""
        state = handle.state
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
        await self.conclude(handle, status, log_text, has_result=status is RunStatus.COMPLETED)

    async def failed(self, handle: RunHandle, failure: RunFailure) -> None:
        """The run could not go on (a refusal, a start that failed, a lost container)."""
        status = RunStatus.KILLED if handle.state.kill_requested else failure.status
        text = "\n".join(handle.log_lines + [f"[node] {failure}"]) + "\n"
        log.warning("run %s: %s (%s)", handle.state.run_id, failure, status.value)
        await self.conclude(handle, status, text, has_result=False)

    async def crashed(self, handle: RunHandle, exc: Exception) -> None:
        """An error of the node itself."""
        text = "\n".join(handle.log_lines + [f"[node] internal error: {exc!r}"]) + "\n"
        await self.conclude(handle, RunStatus.UNKNOWN_ERROR, text, False)

    async def postpone(self, handle: RunHandle) -> None:
        """Back to ``received``: started again when the next sync lists the run."""
        state = handle.state
        await self.release(handle)
        self.reporters.forget(state.run_id)
        await handle.reporter.stop()
        state.phase = PHASE_RECEIVED
        state.attempts = max(0, state.attempts - 1)
        handle.folder.save_state(state)

    def _refuse_output(self, handle: RunHandle) -> str | None:
        """Why the output file of a finished run cannot be sent (None: it can)."""
        try:
            limit = self.max_blob if handle.state.blob_storage_used else self.max_output
            handle.folder.output_size(limit)
        except UnsafeFile as exc:
            log.warning("run %s: output refused: %s", handle.state.run_id, exc)
            return f"the output was refused: {exc}"
        return None

    # settling ----------------------------------------------------------------------------------
    async def conclude(
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
            self.reporters.forget(state.run_id)
            await handle.reporter.stop()
            await self.release(handle)
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
        self.background.spawn(self._flush_unless_delivered(handle), name="flush")
        start = handle.timings.get("received") or handle.timings.get("resumed") or 0.0
        log.info(
            "run %s: %s; timings %s",
            state.run_id,
            status.value,
            " ".join(f"{k}=+{v - start:.3f}" for k, v in handle.timings.items()),
        )
        self.finished_timings.append((state.run_id, dict(handle.timings)))
        del self.finished_timings[:-TIMINGS_KEPT]
        await self.release(handle)

    async def settle_without_container(self, state: RunState, status: RunStatus, text: str) -> None:
        """A run that ends before (or without) a container of its own."""
        folder = self.store.folder(state.run_id)
        folder.create()
        report = final_report(status.value, utcnow(), text, False, state.started_at)
        state.phase = PHASE_REPORTING
        state.status = status.value
        folder.save_report(report, text)
        folder.save_state(state)
        self.reporters.for_run(state, folder).finish()

    async def _flush_unless_delivered(self, handle: RunHandle) -> None:
        """Put the outcome on disk for good if the server does not take it at once."""
        try:
            await asyncio.wait_for(handle.reporter.done.wait(), FLUSH_AFTER)
        except TimeoutError:
            await asyncio.to_thread(handle.folder.flush_report)

    # releasing ---------------------------------------------------------------------------------
    async def release(self, handle: RunHandle) -> None:
        """Close the run's proxy socket and relays; remove its containers (in the background)."""
        await self.proxy.stop_run(handle.state.run_id)
        for server in handle.relays:
            server.close()
        handle.relays.clear()
        cid, fwd = handle.container_id, handle.forwarder
        handle.container_id = None
        handle.forwarder = None
        self.background.spawn(
            self._remove_containers(cid, fwd, handle.reporter.done),
            name=f"{CLEANUP}{handle.state.run_id}",
        )

    async def _remove_containers(
        self, cid: str | None, fwd: Forwarder | None, delivered: asyncio.Event | None = None
    ) -> None:
        if delivered is not None:
            # clean up after the delivery, not during it (it needs the machine more); the
            # exited container also lets a restarted node collect the outcome again
            waits = [
                asyncio.ensure_future(e.wait()) for e in (delivered, self.background.cleanup_now)
            ]
            await asyncio.wait(waits, timeout=CLEANUP_WAIT, return_when=asyncio.FIRST_COMPLETED)
            for waiter in waits:
                waiter.cancel()
        if cid:
            with contextlib.suppress(Exception):
                await in_thread(self.runtime.remove, cid, True)
        if fwd is not None:
            await self.forwarders.release(fwd)
