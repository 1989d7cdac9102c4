"""Watching: a running algorithm container followed until it exits, its output shared with the
collaboration as it appears and its complete log collected at the end."""

from __future__ import annotations

import asyncio
import logging
import time

from vantage6_common.status import RunStatus
from vantage6_node.runs.announce import Announcer
from vantage6_node.runs.handle import RunFailure, RunHandle
from vantage6_node.runtime import ContainerRuntime, ContainerRuntimeError, ExitNotifier, LogReader
from vantage6_node.threads import in_thread, iterate_in_thread

log = logging.getLogger(__name__)

#: seconds the live output is gathered before it is sent
LOG_FLUSH_SECONDS = 0.25
#: lines sent at once at most
LOG_BATCH_LINES = 200
#: lines of a run's output kept in memory
MAX_KEPT_LINES = 5000


class Watcher:
    """Follows algorithm containers to their exit."""

    def __init__(
        self,
        *,
        runtime: ContainerRuntime,
        announcer: Announcer,
        share_logs: bool,
        exit_watcher: ExitNotifier | None = None,
        log_files: LogReader | None = None,
    ) -> None:
        self.runtime = runtime
        self.announcer = announcer
        self.share_logs = share_logs
        self.exit_watcher = exit_watcher
        self.log_files = log_files

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

        The runtime's exit notifier, when it has one, reports at once; the engine is asked as
        well, less and less often, in case the shortcut misses. Engines reached over an API are
        asked often at first (most algorithms in a federated analysis finish within seconds).
        An engine whose blocking ``wait`` is cheap (one process, not one per look) is waited
        for instead.
        """
        watched = self.exit_watcher.exited(cid) if self.exit_watcher is not None else None
        try:
            if self.runtime.blocking_wait:
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
            if batch and self.share_logs:
                await self.announcer.log(state, batch)

        lines = handle.log_lines
        if self.log_files is not None and self.log_files.has(cid):
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
                if len(pending) >= LOG_BATCH_LINES:
                    await flush()
                else:
                    wake.set()
        finally:
            sending.cancel()
            await flush()
