"""Launch: the algorithm container started with the run's folder, databases and limits, on the
network of the run's forwarder (nothing else reachable)."""

from __future__ import annotations

import asyncio
import contextlib

from vantage6_common.status import RunStatus
from vantage6_node.config import NodeConfig
from vantage6_node.identity import NodeIdentity
from vantage6_node.isolation import (
    LABEL_INSTANCE,
    LABEL_ROLE,
    LABEL_RUN,
    LABEL_TASK,
    ROLE_ALGORITHM,
)
from vantage6_node.runs.environment import ContainerPlan
from vantage6_node.runs.folder import (
    CONTAINER_DATA_DIR,
    CONTAINER_TMP_DIR,
    PHASE_RUNNING,
    PHASE_STARTING,
)
from vantage6_node.runs.handle import RunFailure, RunHandle
from vantage6_node.runs.preparation import AlgorithmImages
from vantage6_node.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerStartError,
    ImageNotFound,
    Mount,
    RunSpec,
    network_of_container,
)
from vantage6_node.threads import in_thread

#: seconds before a run still starting is reported ``initializing``
INITIALIZING_AFTER = 0.5
#: seconds an algorithm runs before the run is reported ``active``
ACTIVE_AFTER = 0.2


def report_initializing(handle: RunHandle) -> None:
    """``initializing`` only for starts that take a while (e.g. an image pull); quick starts
    go straight to ``active`` (one request less per run)."""
    if handle.container_id is None and handle.state.phase in (PHASE_STARTING, PHASE_RUNNING):
        handle.reporter.set_status(RunStatus.INITIALIZING.value, started_at=handle.state.started_at)


def report_active(handle: RunHandle) -> None:
    """``active`` once the algorithm has run for a moment: a run that finishes sooner goes
    straight to its final status, and its result does not queue behind this update."""
    if handle.state.phase == PHASE_RUNNING and "container_exited" not in handle.timings:
        handle.reporter.set_status(RunStatus.ACTIVE.value, started_at=handle.state.started_at)


class Launcher:
    """Starts a prepared run's algorithm container."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        identity: NodeIdentity,
        runtime: ContainerRuntime,
        images: AlgorithmImages,
    ) -> None:
        self.config = config
        self.identity = identity
        self.runtime = runtime
        self.images = images

    def spec(self, handle: RunHandle, plan: ContainerPlan) -> RunSpec:
        """What the engine is asked to run for the run."""
        state, folder = handle.state, handle.folder
        assert handle.forwarder is not None
        mounts = [
            Mount(str(folder.io_dir), CONTAINER_DATA_DIR, read_only=False),
            Mount(str(folder.tmp_dir), CONTAINER_TMP_DIR, read_only=False),
            *(Mount(m.source, m.target, read_only=True) for m in plan.mounts),
        ]
        limits = self.config.limits
        return RunSpec(
            image=state.run_image or state.image,
            env=plan.encoded_env,
            mounts=tuple(mounts),
            labels={
                LABEL_INSTANCE: self.identity.instance_id,
                LABEL_ROLE: ROLE_ALGORITHM,
                LABEL_RUN: str(state.run_id),
                LABEL_TASK: str(state.task_id),
            },
            name=f"v6run-{self.identity.instance_id[:8]}-{state.run_id}-{state.attempts}",
            network=network_of_container(handle.forwarder.container_id),
            cpus=limits.cpus,
            memory=limits.memory,
            pids_limit=limits.pids,
            user=self.config.isolation.container_user,
        )

    async def launch(self, handle: RunHandle, plan: ContainerPlan) -> str:
        """Start the container; its id."""
        state, folder = handle.state, handle.folder
        spec = self.spec(handle, plan)
        state.phase = PHASE_RUNNING
        folder.save_state(state)
        handle.checkpoint()
        handle.mark("container_start")
        try:
            cid = await self._run_container(spec)
        except ImageNotFound:
            self.images.forget(spec.image)
            await self.images.ensure(spec.image)
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
        asyncio.get_running_loop().call_later(ACTIVE_AFTER, report_active, handle)
        if state.kill_requested:  # a kill that arrived while the container was starting
            with contextlib.suppress(ContainerRuntimeError):
                await in_thread(self.runtime.kill, cid)
        return cid

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
