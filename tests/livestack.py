"""Start real servers for tests: a uvicorn subprocess on loopback with its own database."""

from __future__ import annotations

import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

import httpx

REPO = Path(__file__).resolve().parent.parent
ROOT_PASSWORD = "Root-Test-Pass-1!"
#: tests log in far more often than people do; tests of the limits pass their own
TEST_RATE_LIMITS = {
    "V6_RATE_LIMIT_AUTH": "100000/minute",
    "V6_RATE_LIMIT_RECOVER": "100000/minute",
    "V6_RATE_LIMIT_RECOVER_TARGET": "100000/minute",
}
PG_ADMIN_URI = os.environ.get("V6_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def create_pg_database() -> tuple[str, str]:
    """A fresh PostgreSQL database; returns (uri, name)."""
    import psycopg

    name = f"v6test_{secrets.token_hex(6)}"
    with psycopg.connect(PG_ADMIN_URI, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base = PG_ADMIN_URI.rsplit("/", 1)[0]
    return f"{base}/{name}", name


def drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URI, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def end_process(
    process: subprocess.Popen | None, sig: int = signal.SIGTERM, timeout: float = 10
) -> None:
    """Send ``sig`` to a running process and wait for it; kill it after ``timeout`` seconds."""
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


class ServiceProcess:
    """Start and stop of a service subprocess on loopback (mixin of the live services' dataclasses,
    which have ``port``, ``workdir`` and ``process``); it is up once ``/version`` answers."""

    #: the service's package (``python -m`` it) and the name of its log file
    module: ClassVar[str]
    database_uri: str
    port: int
    workdir: Path
    process: subprocess.Popen | None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def log_file(self) -> Path:
        return self.workdir / f"{self.module.removeprefix('vantage6_')}.log"

    def options(self) -> list[str]:
        """Command line options besides the port, database and log level."""
        return []

    def environment(self) -> dict[str, str] | None:
        """The subprocess's environment (None: this process's)."""
        return None

    def start(self, timeout: float = 60) -> Self:
        cmd = [sys.executable, "-m", self.module, *self.options(), "--port", str(self.port)]
        cmd += ["--database-uri", self.database_uri, "--log-level", "warning"]
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd, cwd=REPO, env=self.environment(), stdout=self._log, stderr=subprocess.STDOUT
        )
        what = self.module.removeprefix("vantage6_")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{what} exited: {self.log_file.read_text()[-3000:]}")
            try:
                if httpx.get(self.api_url + "/version", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{what} did not start: {self.log_file.read_text()[-3000:]}")

    def stop(self) -> None:
        end_process(self.process, timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self) -> Self:
        self.stop()
        return self.start()


@dataclass
class LiveServer(ServiceProcess):
    """A running server subprocess."""

    module: ClassVar[str] = "vantage6_server"
    database_uri: str
    workdir: Path
    port: int = field(default_factory=free_port)
    root_username: str = "root"
    root_password: str = ROOT_PASSWORD
    extra_env: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None
    set_root_password: bool = True
    process: subprocess.Popen | None = None

    def options(self) -> list[str]:
        config = ["--config", str(self.config_file)] if self.config_file else []
        return ["--host", "127.0.0.1", *config]

    def environment(self) -> dict[str, str]:
        env = {**TEST_RATE_LIMITS, **os.environ, **self.extra_env}
        env.pop("V6_ROOT_PASSWORD", None)
        if self.set_root_password:
            env["V6_ROOT_PASSWORD"] = self.root_password
        return env


ServiceT = TypeVar("ServiceT", bound=ServiceProcess)


def start_service(
    cls: type[ServiceT], backend: str = "sqlite", **kwargs: Any
) -> tuple[ServiceT, Callable[[], None]]:
    """Start a service on a fresh database; returns it and a cleanup function."""
    name = cls.module.removeprefix("vantage6_")
    workdir = Path(tempfile.mkdtemp(prefix=f"v6{name}-"))
    pg_name = None
    if backend == "postgresql":
        uri, pg_name = create_pg_database()
    else:
        uri = f"sqlite:///{workdir / f'{name}.sqlite'}"
    service = cls(database_uri=uri, workdir=workdir, **kwargs).start()

    def cleanup() -> None:
        service.stop()
        if pg_name:
            drop_pg_database(pg_name)

    return service, cleanup


def start_server(backend: str = "sqlite", **kwargs: Any) -> tuple[LiveServer, Callable[[], None]]:
    """Start a server on a fresh database; returns it and a cleanup function."""
    return start_service(LiveServer, backend, **kwargs)
