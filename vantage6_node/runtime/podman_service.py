"""Start and stop ``podman system service`` on a private unix socket.

The service speaks the Docker Engine API, so the ``docker`` backend can be used on machines
that have podman but no Docker daemon::

    with PodmanService() as svc:
        runtime = load_runtime("docker", base_url=svc.url)
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

from vantage6_node.runtime import podman_environ
from vantage6_node.runtime.base import RuntimeUnavailable


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


class PodmanService:
    """A ``podman system service --time=0`` process owned by this object."""

    def __init__(
        self,
        socket_path: str | Path | None = None,
        podman: str | None = None,
        start_timeout: float = 30.0,
        log_path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self._tmpdir: tempfile.TemporaryDirectory[str] | None = None
        if socket_path is None:
            self._tmpdir = tempfile.TemporaryDirectory(prefix="v6-podman-svc-")
            socket_path = Path(self._tmpdir.name) / "podman.sock"
        self.socket_path = Path(socket_path)
        self._podman = podman or shutil.which("podman") or "podman"
        self._start_timeout = start_timeout
        self._log_path = Path(log_path) if log_path else None
        self._proc: subprocess.Popen[bytes] | None = None
        self._env = podman_environ()
        self._env.update(env or {})

    @property
    def url(self) -> str:
        """Base URL for the docker SDK (``unix:///...``)."""
        return f"unix://{self.socket_path}"

    def start(self) -> PodmanService:
        if self._proc is not None:
            return self
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists():
            self.socket_path.unlink()
        log = open(self._log_path, "ab") if self._log_path else subprocess.DEVNULL  # noqa: SIM115
        try:
            self._proc = subprocess.Popen(
                [self._podman, "system", "service", "--time=0", self.url],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self._env,
                start_new_session=True,
            )
        except FileNotFoundError as exc:
            raise RuntimeUnavailable(f"podman executable not found: {self._podman}") from exc
        finally:
            if log is not subprocess.DEVNULL:
                log.close()
        deadline = time.monotonic() + self._start_timeout
        while not socket_answers(self.socket_path):
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._proc = None
                raise RuntimeUnavailable(f"podman system service exited with {code}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeUnavailable(
                    f"podman system service did not answer on {self.socket_path}"
                )
            time.sleep(0.05)
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
        if self.socket_path.exists():
            try:
                self.socket_path.unlink()
            except OSError:
                pass
        if self._tmpdir is not None:
            self._tmpdir.cleanup()
            self._tmpdir = None

    def __enter__(self) -> PodmanService:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
