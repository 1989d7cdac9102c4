"""Preparation: everything a run needs before its container starts.

The task is checked against the node's policies and its database labels, then at the same
time: the image made present, a network forwarder taken, the input decrypted and a container
token obtained. The run folder receives input and token, and the proxy listens on the
forwarder's socket for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path
from typing import Any

from vantage6_common.crypto import SCHEME_V6
from vantage6_common.status import RunStatus
from vantage6_node.algorithm_store import StoreCheck
from vantage6_node.blobs import Blobs, blob_id
from vantage6_node.config import NodeConfig
from vantage6_node.encryption import NodeEncryption
from vantage6_node.isolation import PROXY_SOCKET, Forwarder, ForwarderPool, start_tcp_relay
from vantage6_node.policies import PolicyChecker, TaskOrigin
from vantage6_node.proxy import NodeProxy, RunContext
from vantage6_node.runs.environment import (
    ContainerPlan,
    DatabaseRelay,
    build_plan,
    requested_labels,
)
from vantage6_node.runs.folder import RunState
from vantage6_node.runs.handle import RunFailure, RunHandle
from vantage6_node.runs.intake import OfferedTokens
from vantage6_node.runtime import ContainerRuntime, ContainerRuntimeError, ImagePullError
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)

#: seconds an image found locally is taken to be still there
IMAGE_CACHE_SECONDS = 60.0


class AlgorithmImages:
    """Makes algorithm images present, pulling per policy (a failed pull costs seconds)."""

    def __init__(self, runtime: ContainerRuntime, require_pull: bool) -> None:
        self.runtime = runtime
        self.require_pull = require_pull
        self._seen: dict[str, float] = {}

    async def ensure(self, image: str) -> None:
        if not self.require_pull:
            seen = self._seen.get(image)
            if seen and time.monotonic() - seen < IMAGE_CACHE_SECONDS:
                return
            if await in_thread(self.runtime.image_exists, image):
                self._seen[image] = time.monotonic()
                return
        try:
            await in_thread(self.runtime.pull, image)
        except ImagePullError as exc:
            raise RunFailure(
                RunStatus.NO_DOCKER_IMAGE,
                f"image {image} could not be pulled"
                + (" and the policy requires a pull" if self.require_pull else "")
                + f": {exc}",
            ) from exc
        self._seen[image] = time.monotonic()

    def forget(self, image: str) -> None:
        """The engine says the image is gone after all."""
        self._seen.pop(image, None)


class Preparation:
    """Checks a run and gets its image, forwarder, input, token and proxy socket ready."""

    def __init__(
        self,
        *,
        config: NodeConfig,
        api: ServerAPI,
        encryption: NodeEncryption,
        policies: PolicyChecker,
        images: AlgorithmImages,
        forwarders: ForwarderPool,
        proxy: NodeProxy,
        tokens: OfferedTokens,
        blobs: Blobs,
        stores: StoreCheck | None = None,
    ) -> None:
        self.blobs = blobs
        self.config = config
        self.stores = stores
        self.api = api
        self.encryption = encryption
        self.policies = policies
        self.images = images
        self.forwarders = forwarders
        self.proxy = proxy
        self.tokens = tokens

    # checks ------------------------------------------------------------------------------------
    async def check(self, state: RunState) -> None:
        """Refuse a task the node's policies do not allow or whose labels are unsafe."""
        await self._check_policy(state)
        self._check_labels(state)

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
        store = None
        if self.stores is not None and self.policies.needs_store:
            store = await self.stores.verdict(state.image, state.store_id, state.collaboration_id)
        origin = TaskOrigin(
            image=state.image,
            init_org_id=state.init_org_id,
            init_user_id=state.init_user_id,
            init_org_name=org_name,
            store=store,
        )
        if self.config.policies.allowed_algorithms:  # may ask a registry for digests
            decision = await in_thread(self.policies.check, origin)
        else:
            decision = self.policies.check(origin)
        if not decision.allowed:
            raise RunFailure(RunStatus.NOT_ALLOWED, f"not allowed: {decision.reason}")
        state.run_image = decision.image if decision.image not in (None, state.image) else None
        if state.run_image:
            log.info("run %s: %s runs as %s", state.run_id, state.image, state.run_image)

    # preparing ---------------------------------------------------------------------------------
    async def prepare(self, handle: RunHandle, raw_input: Any) -> ContainerPlan:
        """Image, forwarder, input and token ready, the proxy listening; the run's plan."""
        state = handle.state
        # independent preparations, at the same time
        image_task = asyncio.create_task(self.images.ensure(state.run_image or state.image))
        fwd_task = asyncio.create_task(self._forwarder())
        try:
            data, token = await asyncio.gather(
                self._decrypt_input(handle, raw_input), self._container_token(state)
            )
            await image_task
            handle.checkpoint()
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

        handle.folder.prepare_io(data, token, self.config.isolation.container_ids)
        try:
            plan = build_plan(self.config, state.databases)
        except ValueError as exc:
            raise RunFailure(RunStatus.FAILED, f"the task is refused: {exc}") from exc
        await self.open_proxy(handle, token, plan.relays)
        for warning in plan.warnings:
            handle.log_lines.append(f"[node] {warning}")
        return plan

    async def _forwarder(self) -> Forwarder:
        try:
            return await self.forwarders.acquire()
        except (ContainerRuntimeError, RuntimeError) as exc:
            raise RunFailure(
                RunStatus.START_FAILED, f"the network forwarder did not start: {exc}"
            ) from exc

    async def _decrypt_input(self, handle: RunHandle, raw_input: Any) -> bytes | Path:
        state = handle.state
        if raw_input is None:
            try:
                run = await self.api.get_run(state.run_id, retry_for=None)
            except ServerError as exc:
                raise RunFailure(RunStatus.FAILED, f"cannot read the run's input: {exc}") from exc
            raw_input = run.get("input")
            state.blob_storage_used = bool(run.get("blob_storage_used"))
        if state.blob_storage_used:
            return await self._download_input(handle, raw_input)
        try:
            if self.encryption.encrypted:  # RSA and AES: off the event loop
                data, scheme = await asyncio.to_thread(self.encryption.decrypt_input, raw_input)
            else:  # base64 of a small input: a thread hop would cost more
                data, scheme = self.encryption.decrypt_input(raw_input)
        except Exception as exc:  # noqa: BLE001
            raise RunFailure(RunStatus.FAILED, f"cannot decrypt the input: {exc}") from exc
        state.input_scheme = scheme
        return data

    async def _download_input(self, handle: RunHandle, raw_input: Any) -> Path:
        """Stream the run's input blob, decoded, into the run folder (the node's part)."""
        target = handle.folder.staged_input
        try:
            blob = blob_id(raw_input)
            key = self.encryption.blob_private_key()
            size = await self.blobs.download(blob, target, key, self.config.limits.max_blob)
        except ServerUnavailable:
            raise
        except ServerError as exc:
            raise RunFailure(
                RunStatus.FAILED, f"cannot download the input blob: {exc.msg}"
            ) from exc
        except Exception as exc:  # noqa: BLE001 - a bad blob fails the run, with the reason
            raise RunFailure(RunStatus.FAILED, f"cannot decrypt the input: {exc}") from exc
        log.info("run %s: input blob %s, %s bytes", handle.state.run_id, blob, size)
        state = handle.state
        state.input_scheme = SCHEME_V6 if key is not None else None
        return target

    async def _container_token(self, state: RunState) -> str:
        offered = self.tokens.take(state.run_id)
        if offered is not None:
            return offered
        try:
            return await self.api.container_token(state.task_id, state.image, retry_for=None)
        except ServerError as exc:
            raise RunFailure(
                RunStatus.FAILED, f"could not obtain a container token: {exc.msg}"
            ) from exc

    async def open_proxy(self, handle: RunHandle, token: str, relays: list[DatabaseRelay]) -> None:
        """Serve the proxy (and the database relays) on the run's forwarder socket folder."""
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
