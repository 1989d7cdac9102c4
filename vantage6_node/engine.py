"""Opening the container engine for a node.

With ``runtime: podman`` and ``podman_service: true`` (the default) the node runs its own
``podman system service`` on a private socket and talks to it through the Docker-compatible API
(``docker`` backend): one HTTP request per operation instead of one podman process. The service
is a child of the node that dies with it (also when the node is killed), so a crashed node
leaves no service behind; one left by an older node version is stopped at start.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import time
from pathlib import Path

from vantage6_node.config import NodeConfig
from vantage6_node.runtime import ContainerRuntime, load_runtime, podman_environ
from vantage6_node.runtime.base import RuntimeUnavailable
from vantage6_node.runtime.podman_service import socket_answers

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def stop_stale_services(socket_path: Path) -> list[int]:
    """End ``podman system service`` processes still serving ``socket_path``."""
    wanted = f"unix://{socket_path}".encode()
    stopped = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"system" in argv and b"service" in argv and wanted in argv:
            with contextlib.suppress(OSError):
                os.kill(int(entry.name), signal.SIGTERM)
                stopped.append(int(entry.name))
    deadline = time.monotonic() + 10
    while stopped and time.monotonic() < deadline:
        if not any(Path(f"/proc/{pid}").exists() for pid in stopped):
            break
        time.sleep(0.05)
    if stopped:
        log.info("stopped podman services left by an earlier node process: %s", stopped)
    return stopped


class PodmanServiceChild:
    """``podman system service`` as a child process of the node."""

    def __init__(self, socket_path: Path, log_path: Path | None = None) -> None:
        self.socket_path = socket_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    async def start(self, timeout: float = 30.0) -> None:
        await asyncio.to_thread(stop_stale_services, self.socket_path)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            # started from the event loop's thread: the death signal is tied to the thread
            # that forks, and this one lives as long as the node
            self.process = subprocess.Popen(
                ["podman", "system", "service", "--time=0", self.url],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=podman_environ(),
                preexec_fn=_die_with_parent,  # noqa: PLW1509 - only prctl, no locks
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable("podman is not installed") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        deadline = time.monotonic() + timeout
        while not await asyncio.to_thread(socket_answers, self.socket_path):
            if self.process.poll() is not None:
                raise RuntimeUnavailable(
                    f"podman system service exited with {self.process.returncode}"
                )
            if time.monotonic() > deadline:
                await self.stop()
                raise RuntimeUnavailable("podman system service did not answer")
            await asyncio.sleep(0.05)

    async def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                await asyncio.to_thread(proc.wait, 10)
            except subprocess.TimeoutExpired:
                proc.kill()
                await asyncio.to_thread(proc.wait)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()


async def open_runtime(
    config: NodeConfig, socket_root: Path, log_dir: Path
) -> tuple[ContainerRuntime, PodmanServiceChild | None]:
    """The configured container runtime (and the service the node runs for it, if any)."""
    if config.runtime == "podman" and config.podman_service:
        socket_root.mkdir(parents=True, exist_ok=True)
        os.chmod(socket_root, 0o700)
        service = PodmanServiceChild(socket_root / "podman.sock", log_dir / "podman-service.log")
        await service.start()
        options = {"base_url": service.url, **config.runtime_options}
        return load_runtime("docker", **options), service
    return load_runtime(config.runtime, **config.runtime_options), None
