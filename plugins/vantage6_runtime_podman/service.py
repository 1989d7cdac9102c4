"""``podman system service`` on a unix socket, owned by one object.

The service speaks the Docker Engine API, so the ``docker`` backend can drive podman with one
HTTP request per operation instead of one podman process::

    with PodmanService() as svc:
        runtime = load_runtime("docker", base_url=svc.url)

A node ties the service to its own life (``tied_to_parent``): the service gets SIGTERM when the
thread that started it ends, so start it from a thread that lives as long as the node (its event
loop's). A service still serving the same socket, left by an earlier node process, is stopped
first.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from vantage6_node.runtime.base import RuntimeUnavailable
from vantage6_runtime_podman.environ import podman_environ

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def socket_answers(path: Path) -> bool:
    """Whether an engine API on this unix socket answers ``/_ping`` with 200."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(path))
            sock.sendall(b"GET /_ping HTTP/1.0\r\nHost: d\r\n\r\n")
            reply = sock.recv(64)
    except OSError:
        return False
    return reply.startswith(b"HTTP/") and b" 200" in reply[:16]


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
        log.info("stopped podman services left by an earlier process: %s", stopped)
    return stopped


class PodmanService:
    """A ``podman system service --time=0`` process.

    Without ``socket_path`` the socket lives in a private temporary folder.
    """

    def __init__(
        self,
        socket_path: str | Path | None = None,
        podman: str | None = None,
        start_timeout: float = 30.0,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        global_args: Sequence[str] = (),
        tied_to_parent: bool = False,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if socket_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="v6-podman-svc-")
            socket_path = Path(self._tmpdir.name) / "podman.sock"
        self.socket_path = Path(socket_path)
        self._podman = podman or shutil.which("podman") or "podman"
        self._start_timeout = start_timeout
        self._log_path = Path(log_path) if log_path else None
        self._global_args = list(global_args)
        self._tied = tied_to_parent
        self._proc: subprocess.Popen[bytes] | None = None
        self._env = podman_environ()
        self._env.update(env or {})

    @property
    def url(self) -> str:
        """Base URL for the docker SDK (``unix:///...``)."""
        return f"unix://{self.socket_path}"

    def spawn(self) -> None:
        """Start the process (returns at once; see :meth:`wait_ready`)."""
        if self._proc is not None:
            return
        if self._tmpdir is None:
            stop_stale_services(self.socket_path)
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        out = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [self._podman, *self._global_args, "system", "service", "--time=0", self.url],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=out,
                env=self._env,
                start_new_session=not self._tied,
                preexec_fn=_die_with_parent if self._tied else None,  # noqa: PLW1509 - only prctl
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"podman executable not found: {self._podman}") from exc
        finally:
            if out is not subprocess.DEVNULL:
                out.close()

    def wait_ready(self, timeout: float | None = None) -> None:
        """Block until the socket answers; raises :class:`RuntimeUnavailable` otherwise."""
        deadline = time.monotonic() + (self._start_timeout if timeout is None else timeout)
        while not socket_answers(self.socket_path):
            proc = self._proc
            if proc is None:
                raise RuntimeUnavailable("podman system service is not running")
            if proc.poll() is not None:
                self._proc = None
                raise RuntimeUnavailable(f"podman system service exited with {proc.returncode}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeUnavailable(
                    f"podman system service did not answer on {self.socket_path}"
                )
            time.sleep(0.05)

    def start(self) -> PodmanService:
        """Spawn and wait until the service answers."""
        self.spawn()
        self.wait_ready()
        return self

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        with contextlib.suppress(OSError):
            self.socket_path.unlink()
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> PodmanService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
