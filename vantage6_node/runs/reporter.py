"""Delivering a run's progress and outcome to the server, in order, whatever the network does.

Each run has one reporter. Intermediate statuses (``initializing``, ``active``) are sent when
the server can be reached and skipped when the final outcome is already known; the final
outcome is written to the run folder first and sent until the server has it, across node
restarts. Only then is the run folder emptied.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

from vantage6_common.status import RunStatus
from vantage6_node.blobs import Blobs
from vantage6_node.config import DEFAULT_MAX_BLOB, DEFAULT_MAX_OUTPUT
from vantage6_node.runs.announce import Announcer
from vantage6_node.runs.folder import PHASE_DONE, Report, RunFolder, RunState
from vantage6_node.runs.result_encoder import ResultEncoder
from vantage6_node.runs.safe_files import UnsafeFile
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable

log = logging.getLogger(__name__)

MAX_LOG_CHARS = 1_000_000
LOG_NOT_SHARED = "Node does not allow sharing algorithm logs"


def trim_log(text: str, limit: int = MAX_LOG_CHARS) -> str:
    if len(text) <= limit:
        return text
    return "[... log truncated by the node ...]\n" + text[-limit:]


class Reporter:
    """Sends one run's updates to the server."""

    def __init__(
        self,
        api: ServerAPI,
        state: RunState,
        folder: RunFolder,
        encoder: ResultEncoder,
        announcer: Announcer,
        share_logs: bool = True,
        on_done: Callable[[RunState], None] | None = None,
        max_output: int = DEFAULT_MAX_OUTPUT,
        blobs: Blobs | None = None,
        max_blob: int = DEFAULT_MAX_BLOB,
    ) -> None:
        self.blobs = blobs or Blobs(api)
        self.max_blob = max_blob
        self.api = api
        self.state = state
        self.folder = folder
        self.encoder = encoder
        self.announcer = announcer
        self.share_logs = share_logs
        self.on_done = on_done
        self.max_output = max_output
        self._wanted: dict[str, Any] | None = None
        self._final = False
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self.done = asyncio.Event()

    # producer side -----------------------------------------------------------------------------
    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name=f"report-{self.state.run_id}")

    def set_status(self, status: str, **extra: Any) -> None:
        if self._final:
            return
        update = dict(self._wanted or {})
        update.update(extra)
        update["status"] = status
        self._wanted = update
        self._wake.set()
        self.start()

    def finish(self) -> None:
        """The final report is on disk: send it (after anything in flight)."""
        self._final = True
        self._wanted = None
        self._wake.set()
        self.start()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    # consumer side -----------------------------------------------------------------------------
    async def _loop(self) -> None:
        while True:
            if self._final:
                await self._deliver_final()
                return
            update, self._wanted = self._wanted, None
            if update is not None:
                await self._send_intermediate(update)
                continue
            self._wake.clear()
            if self._wanted is None and not self._final:
                await self._wake.wait()

    async def _send_intermediate(self, update: dict[str, Any]) -> None:
        while not self._final:
            try:
                await self.api.patch_run(self.state.run_id, update, retry_for=2.0)
            except ServerUnavailable:
                if self.api.stopping.is_set():
                    return
                continue  # keep trying until the server is back or the run has finished
            except ServerError as exc:
                log.info("run %s: status %s refused: %s", self.state.run_id, update, exc)
                return
            await self.announcer.status(self.state, update["status"])
            return

    async def _payload(self) -> dict[str, Any] | None:
        report = self.folder.load_report()
        if report is None:
            return None
        payload: dict[str, Any] = {
            "status": report.status,
            "finished_at": report.finished_at,
            "log": trim_log(report.log) if self.share_logs else LOG_NOT_SHARED,
        }
        if report.started_at and report.status != RunStatus.KILLED.value:
            # (the server accepts only status, log and finished_at for a run it killed)
            payload["started_at"] = report.started_at
        if report.has_result and self.state.blob_storage_used:
            return await self._with_blob_result(payload)
        if report.has_result:
            try:
                output = self.folder.read_output(self.max_output)
            except UnsafeFile as exc:
                log.warning("run %s: output refused: %s", self.state.run_id, exc)
                payload["status"] = RunStatus.FAILED.value
                payload["log"] = f"{payload['log']}\n[node] the output was refused: {exc}"
                return payload
            try:
                payload["result"] = await self.encoder.encode(self.state, output)
            except ServerUnavailable:
                raise
            except Exception as exc:  # noqa: BLE001 - report why instead of losing the run
                log.error("run %s: cannot encrypt the result: %s", self.state.run_id, exc)
                payload["status"] = RunStatus.FAILED.value
                payload["log"] = f"{payload['log']}\n[node] could not encrypt the result: {exc}"
        return payload

    async def _with_blob_result(self, payload: dict[str, Any]) -> dict[str, Any]:
        """``payload`` with the result uploaded as a blob (encrypted for the task's initiating
        organization) and referenced by its id; a failed run when it cannot be."""
        state = self.state
        if state.result_blob is None:
            try:
                key = await self.encoder.blob_key(state)
                state.result_blob = await self.blobs.upload(
                    lambda: self.folder.output_chunks(self.max_blob), key
                )
            except ServerUnavailable:
                raise
            except UnsafeFile as exc:
                log.warning("run %s: output refused: %s", state.run_id, exc)
                return _failed(payload, f"the output was refused: {exc}")
            except ServerError as exc:
                log.error("run %s: result blob refused: %s", state.run_id, exc)
                return _failed(payload, f"the server refused the result blob: {exc.msg}")
            except Exception as exc:  # noqa: BLE001 - report why instead of losing the run
                log.error("run %s: cannot upload the result: %s", state.run_id, exc)
                return _failed(payload, f"could not encrypt or upload the result: {exc}")
            self.folder.save_state(state, durable=True)
            log.info("run %s: result uploaded as blob %s", state.run_id, state.result_blob)
        payload["result"] = state.result_blob
        return payload

    async def _deliver_final(self) -> None:
        run_id = self.state.run_id
        while True:
            try:
                payload = await self._payload()
                if payload is None:
                    log.error("run %s: final report missing on disk", run_id)
                    break
                await self.api.patch_run(run_id, payload, retry_for=None)
                self.state.timings["delivered"] = time.time()
                await self.announcer.status(self.state, payload["status"])
                log.info("run %s: delivered (%s)", run_id, payload["status"])
                break
            except ServerUnavailable:
                if self.api.stopping.is_set():
                    return  # the report stays on disk for the next start
                await asyncio.sleep(1.0)
                continue
            except ServerError as exc:
                if await self._settled_elsewhere(exc):
                    break
                if payload is not None and "result" in payload:
                    # e.g. too large: at least settle the run, with the reason
                    payload.pop("result")
                    fallback = {
                        "status": RunStatus.FAILED.value,
                        "finished_at": payload["finished_at"],
                        "log": f"{payload['log']}\n[node] the server refused the result: {exc.msg}",
                    }
                    try:
                        await self.api.patch_run(run_id, fallback, retry_for=None)
                        await self.announcer.status(self.state, RunStatus.FAILED.value)
                    except (ServerError, ServerUnavailable) as again:
                        log.error("run %s: could not settle the run: %s", run_id, again)
                log.error("run %s: the server refused the outcome: %s", run_id, exc)
                break
        self.state.phase = PHASE_DONE
        self.folder.save_state(self.state, durable=True)
        self.folder.remove_payload()
        self.done.set()
        if self.on_done is not None:
            self.on_done(self.state)

    async def _settled_elsewhere(self, exc: ServerError) -> bool:
        """After a refusal: is the run already finished (or gone) on the server?"""
        if exc.status == 404:
            return True
        try:
            run = await self.api.get_run(self.state.run_id, retry_for=30)
        except ServerError as again:
            return again.status == 404
        except ServerUnavailable:
            return False
        status = run.get("status") if isinstance(run, dict) else None
        if status and RunStatus(status).is_finished:
            log.info("run %s: already finished on the server (%s)", self.state.run_id, status)
            return True
        return False


def _failed(payload: dict[str, Any], reason: str) -> dict[str, Any]:
    payload["status"] = RunStatus.FAILED.value
    payload["log"] = f"{payload['log']}\n[node] {reason}"
    return payload


def final_report(
    status: str, finished_at: str, log_text: str, has_result: bool, started_at: str | None
) -> Report:
    return Report(
        status=status,
        finished_at=finished_at,
        log=log_text,
        has_result=has_result,
        started_at=started_at,
    )


class Reporters:
    """The reporters of runs whose outcome is not delivered yet, one per run."""

    def __init__(
        self,
        api: ServerAPI,
        encoder: ResultEncoder,
        announcer: Announcer,
        share_logs: bool = True,
        max_output: int = DEFAULT_MAX_OUTPUT,
        blobs: Blobs | None = None,
        max_blob: int = DEFAULT_MAX_BLOB,
    ) -> None:
        self.blobs = blobs or Blobs(api)
        self.max_blob = max_blob
        self.api = api
        self.encoder = encoder
        self.announcer = announcer
        self.share_logs = share_logs
        self.max_output = max_output
        self._by_run: dict[int, Reporter] = {}

    def for_run(self, state: RunState, folder: RunFolder) -> Reporter:
        """The run's reporter (a new one if it has none)."""
        reporter = self._by_run.get(state.run_id)
        if reporter is None:
            reporter = Reporter(
                self.api,
                state,
                folder,
                encoder=self.encoder,
                announcer=self.announcer,
                share_logs=self.share_logs,
                on_done=self._delivered,
                max_output=self.max_output,
                blobs=self.blobs,
                max_blob=self.max_blob,
            )
            self._by_run[state.run_id] = reporter
        return reporter

    def _delivered(self, state: RunState) -> None:
        self._by_run.pop(state.run_id, None)

    def forget(self, run_id: int) -> None:
        """The run will not be reported (now): a later offer of it is taken again."""
        self._by_run.pop(run_id, None)

    async def stop_all(self) -> None:
        """Node stopping: undelivered outcomes stay on disk for the next start."""
        for reporter in list(self._by_run.values()):
            await reporter.stop()

    def __contains__(self, run_id: object) -> bool:
        return run_id in self._by_run

    def __len__(self) -> int:
        return len(self._by_run)

    def __iter__(self) -> Iterator[int]:
        return iter(self._by_run)
