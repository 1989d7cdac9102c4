"""Network isolation of algorithm containers: the forwarder and the database relays.

Layout (no bridge networks, see machine notes): a small *forwarder* container runs with
``--network none``, so its network namespace has nothing but loopback. The algorithm container
joins that namespace (``--network container:<forwarder>``). Inside it the forwarder listens on
``127.0.0.1:<proxy port>`` and relays every connection to a unix socket in a directory mounted
from the node, where the node proxy listens for that one run. Network SQL databases the task
asked for are relayed the same way (``127.0.0.1:<port>`` -> ``db-<label>.sock`` -> the node ->
the database). Nothing else is reachable from the algorithm.

Forwarders are started ahead of time (a small pool) so that a run does not wait for one.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from vantage6_node.installation import LABEL_INSTANCE
from vantage6_node.runtime import Mount, RunSpec
from vantage6_node.runtime.base import NETWORK_NONE, ContainerRuntime
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)

LABEL_ROLE = "v6node.role"
LABEL_RUN = "v6node.run_id"
LABEL_TASK = "v6node.task_id"
ROLE_ALGORITHM = "algorithm"
ROLE_FORWARDER = "forwarder"

#: where the forwarder sees its socket directory
FORWARDER_DIR = "/v6"
PROXY_SOCKET = "proxy.sock"
READY_FILE = "ready"
#: a spare this young is used without asking the engine whether it still runs
TRUST_SPARE_FOR = 60.0

# The forwarder program (runs with python3 in the base image). argv: routes JSON, directory.
FORWARDER_SCRIPT = r"""
import asyncio, json, os, signal, sys

ROUTES = {int(k): v for k, v in json.loads(sys.argv[1]).items()}
DIRECTORY = sys.argv[2]


async def pump(reader, writer):
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, asyncio.CancelledError):
        pass


async def relay(name, reader, writer):
    try:
        up_reader, up_writer = await asyncio.open_unix_connection(os.path.join(DIRECTORY, name))
    except OSError:
        writer.close()
        return
    try:
        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
    finally:
        up_writer.close()
        writer.close()


async def main():
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    servers = []
    for port, name in ROUTES.items():
        handler = lambda r, w, n=name: relay(n, r, w)
        servers.append(await asyncio.start_server(handler, "127.0.0.1", port))
    with open(os.path.join(DIRECTORY, "ready"), "w") as fh:
        fh.write(str(os.getpid()))
    await stop.wait()


asyncio.run(main())
"""


@dataclass
class Forwarder:
    container_id: str
    socket_dir: Path
    ready_at: float = field(default_factory=time.monotonic)

    @property
    def proxy_socket(self) -> Path:
        return self.socket_dir / PROXY_SOCKET


def default_socket_root(instance_id: str) -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or "/tmp"
    return Path(base) / f"v6n-{instance_id[:12]}"


class ForwarderPool:
    """Starts forwarder containers and keeps ``size`` of them ready."""

    def __init__(
        self,
        runtime: ContainerRuntime,
        image: str,
        socket_root: Path,
        instance_id: str,
        routes: dict[int, str],
        size: int = 2,
        ready_timeout: float = 15.0,
    ) -> None:
        self.runtime = runtime
        self.image = image
        self.socket_root = Path(socket_root)
        self.instance_id = instance_id
        self.routes = dict(routes)
        self.size = size
        self.ready_timeout = ready_timeout
        self._idle: list[Forwarder] = []
        self._filling: set[asyncio.Task] = set()
        self._closed = False
        self.socket_root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.socket_root, 0o700)

    def spec(self, socket_dir: Path) -> RunSpec:
        return RunSpec(
            image=self.image,
            command=("python3", "-c", FORWARDER_SCRIPT, json.dumps(self.routes), FORWARDER_DIR),
            mounts=(Mount(str(socket_dir), FORWARDER_DIR, read_only=False),),
            labels={LABEL_INSTANCE: self.instance_id, LABEL_ROLE: ROLE_FORWARDER},
            name=f"v6fwd-{self.instance_id[:8]}-{socket_dir.name}",
            network=NETWORK_NONE,
            read_only_rootfs=True,
            memory=64 * 1024 * 1024,
            pids_limit=64,
        )

    async def start_one(self) -> Forwarder:
        socket_dir = self.socket_root / uuid.uuid4().hex[:12]
        socket_dir.mkdir(mode=0o700)
        try:
            cid = await in_thread(self.runtime.run, self.spec(socket_dir))
        except BaseException:
            shutil.rmtree(socket_dir, ignore_errors=True)
            raise
        fwd = Forwarder(cid, socket_dir)
        try:
            await self._wait_ready(fwd)
            fwd.ready_at = time.monotonic()
        except BaseException:
            await self.discard(fwd)
            raise
        return fwd

    async def _wait_ready(self, fwd: Forwarder) -> None:
        deadline = time.monotonic() + self.ready_timeout
        marker = fwd.socket_dir / READY_FILE
        delay = 0.005
        while not marker.exists():
            if time.monotonic() > deadline:
                info = await in_thread(self.runtime.inspect, fwd.container_id)
                logs = await in_thread(self.runtime.logs, fwd.container_id)
                raise RuntimeError(
                    f"forwarder {fwd.container_id[:12]} not ready after {self.ready_timeout}s "
                    f"(state {info.state}): {logs[-500:]}"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)

    async def acquire(self) -> Forwarder:
        """A ready forwarder for one run (from the pool when one is idle)."""
        fwd = None
        while self._idle:
            candidate = self._idle.pop(0)
            if (candidate.socket_dir / READY_FILE).exists() and await self._alive(candidate):
                fwd = candidate
                break
            await self.discard(candidate)
        if fwd is None:
            fwd = await self.start_one()
        # no refill here: starting a spare now would compete with this run's container for
        # the CPU; spares are started when a run gives its forwarder back (see release)
        return fwd

    async def release(self, fwd: Forwarder) -> None:
        """A run is done with its forwarder: remove it, then start a spare."""
        await self.discard(fwd)
        self.refill()

    async def _alive(self, fwd: Forwarder) -> bool:
        """Whether a spare is still up (asked of the engine only for spares kept a while)."""
        if time.monotonic() - fwd.ready_at < TRUST_SPARE_FOR:
            return True
        try:
            info = await in_thread(self.runtime.inspect, fwd.container_id)
        except Exception:  # noqa: BLE001 - gone or engine trouble: do not use it
            return False
        return info.state == "running"

    def refill(self) -> None:
        if self._closed:
            return
        missing = self.size - len(self._idle) - len(self._filling)
        for _ in range(max(0, missing)):
            task = asyncio.create_task(self._fill_one())
            self._filling.add(task)
            task.add_done_callback(self._filling.discard)

    async def _fill_one(self) -> None:
        try:
            fwd = await self.start_one()
        except Exception as exc:  # noqa: BLE001
            log.warning("could not start a spare forwarder: %s", exc)
            return
        if self._closed:
            await self.discard(fwd)
        else:
            self._idle.append(fwd)

    def is_idle(self, container_id: str) -> bool:
        return any(f.container_id == container_id for f in self._idle)

    async def discard(self, fwd: Forwarder) -> None:
        with contextlib.suppress(Exception):
            await in_thread(self.runtime.remove, fwd.container_id, True)
        shutil.rmtree(fwd.socket_dir, ignore_errors=True)

    async def close(self) -> None:
        self._closed = True
        for task in list(self._filling):
            with contextlib.suppress(BaseException):
                await task
        idle, self._idle = self._idle, []
        await asyncio.gather(*(self.discard(f) for f in idle), return_exceptions=True)


# --------------------------------------------------------------------------------------------
# node side of the database relays
# --------------------------------------------------------------------------------------------


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            data = await reader.read(262144)
            if not data:
                break
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()
    except (OSError, asyncio.CancelledError):
        pass


async def start_tcp_relay(socket_path: Path, host: str, port: int) -> asyncio.AbstractServer:
    """Listen on ``socket_path``; connect each client to ``host:port``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError as exc:
            log.warning("database relay to %s:%s failed: %s", host, port, exc)
            writer.close()
            return
        try:
            await asyncio.gather(_pump(reader, up_writer), _pump(up_reader, writer))
        finally:
            up_writer.close()
            writer.close()

    with contextlib.suppress(FileNotFoundError):
        socket_path.unlink()
    server = await asyncio.start_unix_server(handle, path=str(socket_path))
    os.chmod(socket_path, 0o600)
    return server
