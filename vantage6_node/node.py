"""The node: wires configuration, server link, proxy, forwarders and run manager together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from pathlib import Path
from typing import Any

from vantage6_common.events import RUN_OFFER_FEATURE, Event
from vantage6_common.related import related_id
from vantage6_node.config import NodeConfig
from vantage6_node.connection import Authenticator, LinkState, SocketLink
from vantage6_node.encryption import NodeEncryption
from vantage6_node.identity import NodeIdentity
from vantage6_node.installation import instance_file, new_instance_record, read_instance_id
from vantage6_node.isolation import ForwarderPool, default_socket_root
from vantage6_node.org_keys import OrgKeys, UnknownScheme
from vantage6_node.proxy import NodeProxy, StatusBoard
from vantage6_node.runs.environment import database_relays
from vantage6_node.runs.folder import RunStore, write_atomic
from vantage6_node.runs.manager import RunManager
from vantage6_node.runs.recovery import reconcile, recover
from vantage6_node.runtime import (
    ContainerRuntime,
    ContainerRuntimeError,
    ExitNotifier,
    UnknownRuntime,
    open_for_node,
)
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable
from vantage6_node.status import NO_SERVER, ONLINE, STARTING, StatusFile
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)


class NodeStartError(RuntimeError):
    """The node cannot start (runtime missing, server refuses, configuration mismatch).

    ``kind`` says what is wrong: ``runtime`` (no usable container engine) or ``error``.
    """

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind


def instance_id(task_dir: Path) -> str:
    """The id of this node installation (see :mod:`vantage6_node.installation`); a new one is
    written to ``task_dir`` on the first start."""
    found = read_instance_id(task_dir)
    if found is None:
        found, record = new_instance_record()
        write_atomic(instance_file(task_dir), record)
    return found


def _column_names(db: Any) -> list[str] | None:
    try:
        if db.type == "csv":
            import pandas as pd

            return [str(c) for c in pd.read_csv(db.uri, nrows=0).columns]
        if db.type == "parquet":
            import pyarrow.parquet as pq

            return list(pq.read_schema(db.uri).names)
    except Exception:  # noqa: BLE001 - informational only
        return None
    return None


class Node:
    """One node process. ``await node.run(stop)`` runs until ``stop`` is set."""

    def __init__(
        self,
        config: NodeConfig,
        runtime: ContainerRuntime | None = None,
        status: StatusFile | None = None,
    ) -> None:
        self.config = config
        self.status = status or StatusFile(None)
        self._phase = "opening the container runtime"
        self.runtime = runtime
        self.task_dir = Path(config.task_dir or Path.cwd() / "node-data")
        self.board = StatusBoard()
        self.ready = asyncio.Event()
        self.identity: NodeIdentity | None = None
        self.manager: RunManager | None = None
        self.link: SocketLink | None = None
        self.auth: Authenticator | None = None
        self.api: ServerAPI | None = None
        self.proxy: NodeProxy | None = None
        self.forwarders: ForwarderPool | None = None
        self.encryption: NodeEncryption | None = None
        self.org_keys: OrgKeys | None = None
        self.syncs = 0
        self._sync_wanted = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._owns_runtime = False
        self.exit_watcher: ExitNotifier | None = None
        self._socket_root: Path | None = None

    # -- start -----------------------------------------------------------------------------------
    async def _open_runtime(self, socket_root: Path) -> ContainerRuntime:
        name = self.config.runtime
        if self.runtime is None:
            try:
                # on the event loop's thread: helper processes a backend starts for the node
                # may be tied to the thread that starts them, and this one lives as long
                self.runtime = open_for_node(
                    name, socket_root, self.task_dir, **self.config.runtime_options
                )
            except UnknownRuntime as exc:
                raise NodeStartError(str(exc), kind="runtime") from exc
            except (ContainerRuntimeError, OSError, TypeError, ValueError) as exc:
                raise NodeStartError(
                    f"container runtime {name!r} cannot be used: {exc}", kind="runtime"
                ) from exc
            self._owns_runtime = True
        try:
            await in_thread(self.runtime.ready)
        except ContainerRuntimeError as exc:
            where = self.config.runtime_options.get("base_url")
            raise NodeStartError(
                f"container runtime {name!r} does not answer"
                + (f" at {where}" if where else "")
                + f" ({exc}; is it installed and running?)",
                kind="runtime",
            ) from exc
        return self.runtime

    async def _check_forwarder_image(self, runtime: ContainerRuntime) -> None:
        image = self.config.isolation.forwarder_image
        if await in_thread(runtime.image_exists, image):
            return
        try:
            await in_thread(runtime.pull, image)
        except ContainerRuntimeError as exc:
            raise NodeStartError(
                f"isolation.forwarder_image {image!r} is missing and cannot be pulled ({exc}); "
                "build it (in a source checkout) with: python -m containers.images build"
            ) from exc

    async def _identify(self, iid: str) -> NodeIdentity:
        assert self.api is not None and self.auth is not None
        node_id = self.auth.node_id
        if node_id is None:
            raise NodeStartError("the node token does not name the node (sub claim)")
        node = await self.api.get_node(node_id)
        org_id = related_id(node.get("organization"))
        collab_id = related_id(node.get("collaboration"))
        if org_id is None or collab_id is None:
            raise NodeStartError(
                f"the server's record of node {node_id} names no organization or collaboration"
            )
        return NodeIdentity(
            node_id=node_id,
            organization_id=org_id,
            collaboration_id=collab_id,
            instance_id=iid,
            name=str(node.get("name") or ""),
        )

    async def run(self, stop: asyncio.Event) -> None:
        config = self.config
        self.task_dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.task_dir, 0o700)
        iid = instance_id(self.task_dir)
        socket_root = config.isolation.socket_dir or default_socket_root(iid)
        self._socket_root = socket_root
        self.api = api = ServerAPI(config.api_url)
        self.auth = auth = Authenticator(api, config.api_key, stop=api.stopping)
        stop_forward = asyncio.create_task(self._forward_stop(stop))
        reporter = asyncio.create_task(self._report_status())
        try:
            runtime = await self._open_runtime(socket_root)
            await self._check_forwarder_image(runtime)
            self._phase = f"logging in at {config.api_url}"
            await auth.login()
            self._phase = "setting up"
            self.identity = identity = await self._identify(iid)
            self.encryption = NodeEncryption(config.encryption, self.task_dir / "private_key.pem")
            self.org_keys = OrgKeys(
                api, self.encryption, identity.collaboration_id, identity.organization_id
            )
            try:
                await self.org_keys.start()
            except UnknownScheme as exc:
                raise NodeStartError(str(exc)) from exc
            self.proxy = NodeProxy(api, self.org_keys, config.proxy, self.board)
            await self.proxy.start()
            routes = {config.proxy.port: "proxy.sock"}
            for relay in database_relays(config):
                routes[relay.local_port] = relay.socket_name
            self.forwarders = ForwarderPool(
                runtime,
                config.isolation.forwarder_image,
                socket_root,
                iid,
                routes,
                size=config.isolation.pool_size,
            )
            self.link = SocketLink(
                config.server_root,
                auth,
                handlers=self._handlers(),
                on_connect=self._on_connect,
                transports=list(config.socket_transports),
                features=[RUN_OFFER_FEATURE] if config.run_offers else [],
            )
            self.exit_watcher = runtime.exit_notifier()
            log_files = await asyncio.to_thread(runtime.log_reader)
            self.manager = RunManager(
                config=config,
                identity=identity,
                store=RunStore(self.task_dir),
                runtime=runtime,
                api=api,
                org_keys=self.org_keys,
                proxy=self.proxy,
                forwarders=self.forwarders,
                emit=self.link.emit,
                exit_watcher=self.exit_watcher,
                log_files=log_files,
            )
            await recover(self.manager)
            self.forwarders.refill()
            self._tasks = [
                asyncio.create_task(self.link.run(), name="socket"),
                asyncio.create_task(auth.keep_fresh(), name="token-refresh"),
                asyncio.create_task(self._sync_loop(), name="sync"),
                asyncio.create_task(self._resync_timer(), name="resync"),
            ]
            self._sync_wanted.set()
            self.ready.set()
            log.info(
                "node %s (organization %s, collaboration %s) is running",
                identity.node_id,
                identity.organization_id,
                identity.collaboration_id,
            )
            await stop.wait()
        except ServerUnavailable:
            if not stop.is_set():
                raise
            log.info("stopped before the server could be reached")
        finally:
            stop_forward.cancel()
            reporter.cancel()
            await self._shutdown(api)

    def _current_status(self) -> tuple[str, str]:
        if not self.ready.is_set():
            if self.auth is not None and self.auth.last_error:
                return NO_SERVER, f"cannot reach the server at {self.config.api_url}: " + (
                    self.auth.last_error
                )
            return STARTING, self._phase
        link = self.link
        if link is None or link.state == LinkState.CONNECTED:
            return ONLINE, ""
        if link.last_error:
            return NO_SERVER, f"cannot reach the server at {self.config.server_root}: " + (
                link.last_error
            )
        if link.connections == 0:
            return STARTING, "connecting to the server"
        return ONLINE, "reconnecting"

    async def _report_status(self) -> None:
        """Keep the status file (``--status-file``) up to date while the node runs."""
        while True:
            state, detail = self._current_status()
            record = (state, detail, "server" if state == NO_SERVER else "")
            if record != self.status.last:
                await asyncio.to_thread(self.status.write, *record)
            await asyncio.sleep(0.25)

    async def _forward_stop(self, stop: asyncio.Event) -> None:
        await stop.wait()
        if self.api is not None:
            self.api.stopping.set()

    async def _shutdown(self, api: ServerAPI) -> None:
        if self.api is not None:
            self.api.stopping.set()
        if self.link is not None:
            await self.link.close()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.manager is not None:
            await self.manager.shutdown()
        if self.forwarders is not None:
            await self.forwarders.close()
        if self.proxy is not None:
            await self.proxy.close()
        if self.exit_watcher is not None:
            self.exit_watcher.close()
        await api.close()
        if self._owns_runtime and self.runtime is not None:
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self.runtime.close)
        if self._socket_root is not None:
            # left only when runs go on without us (their sockets are needed at the restart)
            with contextlib.suppress(OSError):
                self._socket_root.rmdir()
        log.info("node stopped")

    # -- socket events ---------------------------------------------------------------------------
    def _handlers(self) -> dict[str, Any]:
        async def on_sync(*_: Any) -> None:
            self._sync_wanted.set()

        async def on_new_task(data: Any = None, *_: Any) -> None:
            task_id = data.get("id") if isinstance(data, dict) else None
            if task_id is not None and self.manager is not None:
                await self.manager.fetch_task(int(task_id))

        async def on_offer(data: Any = None, *_: Any) -> None:
            if self.manager is not None:
                await self.manager.take_offer(data)

        async def on_kill(data: Any = None, *_: Any) -> None:
            if self.manager is not None and isinstance(data, dict):
                await self.manager.kill(data)

        async def on_status(*_: Any) -> None:
            self.board.bump()

        async def on_expired(*_: Any) -> None:
            assert self.auth is not None and self.link is not None
            await self.auth.token_rejected(self.auth.access or "")
            self.link.reconnect()

        async def on_invalid(*_: Any) -> None:
            assert self.auth is not None and self.link is not None
            await self.auth.force_login()
            self.link.reconnect()

        async def on_message(data: Any = None, *_: Any) -> None:
            log.info("message from the server: %s", data)

        return {
            Event.SYNC: on_sync,
            Event.NEW_TASK: on_new_task,
            Event.RUN_OFFER: on_offer,
            Event.KILL_CONTAINERS: on_kill,
            Event.ALGORITHM_STATUS_CHANGE: on_status,
            Event.STATUS_UPDATE: on_status,
            Event.EXPIRED_TOKEN: on_expired,
            Event.INVALID_TOKEN: on_invalid,
            Event.MESSAGE: on_message,
        }

    async def _on_connect(self) -> None:
        self._sync_wanted.set()
        if self.config.share_config:
            await self._share_config()

    async def _share_config(self) -> None:
        assert self.link is not None and self.manager is not None
        data: dict[str, Any] = {
            "encryption": self.config.encryption.enabled,
            "encryption_schemes": self.encryption.supported_schemes if self.encryption else [],
            **self.manager.policies.shared(),
            "database_labels": [db.label for db in self.config.databases],
            "database_types": {f"db_type_{db.label}": db.type for db in self.config.databases},
        }
        columns = {}
        for db in self.config.databases:
            names = await asyncio.to_thread(_column_names, db)
            if names is not None:
                columns[f"columns_{db.label}"] = names
        if columns:
            data["database_columns"] = columns
        await self.link.emit(Event.NODE_INFO_UPDATE, data)

    # -- catching up -----------------------------------------------------------------------------
    async def _sync_loop(self) -> None:
        assert self.api is not None and self.manager is not None and self.identity is not None
        assert self.org_keys is not None
        while True:
            await self._sync_wanted.wait()
            self._sync_wanted.clear()
            since = time.monotonic()
            try:
                runs = await self.api.open_runs(self.identity.node_id, retry_for=30)
            except ServerUnavailable as exc:
                log.info("sync postponed: %s", exc)
                continue
            except ServerError as exc:
                log.warning("sync failed: %s", exc)
                continue
            self.syncs += 1
            await self.org_keys.refresh_scheme()
            await reconcile(self.manager, runs, since)

    async def _resync_timer(self) -> None:
        """Catch up now and then anyway; more often while the socket is down."""
        assert self.link is not None
        while True:
            connected = self.link.state == LinkState.CONNECTED
            interval = (
                self.config.resync_interval if connected else min(15.0, self.config.resync_interval)
            )
            await asyncio.sleep(interval)
            self._sync_wanted.set()
