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
from dataclasses import dataclass, field
from pathlib import Path

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


@dataclass
class LiveServer:
    """A running server subprocess."""

    database_uri: str
    workdir: Path
    port: int = field(default_factory=free_port)
    root_username: str = "root"
    root_password: str = ROOT_PASSWORD
    extra_env: dict[str, str] = field(default_factory=dict)
    config_file: Path | None = None
    set_root_password: bool = True
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def log_file(self) -> Path:
        return self.workdir / "server.log"

    def start(self, timeout: float = 60) -> LiveServer:
        env = {**TEST_RATE_LIMITS, **os.environ, **self.extra_env}
        env.pop("V6_ROOT_PASSWORD", None)
        if self.set_root_password:
            env["V6_ROOT_PASSWORD"] = self.root_password
        cmd = [
            sys.executable,
            "-m",
            "vantage6_server",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--database-uri",
            self.database_uri,
            "--log-level",
            "warning",
        ]
        if self.config_file:
            cmd += ["--config", str(self.config_file)]
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited: {self.log_file.read_text()[-3000:]}")
            try:
                if httpx.get(self.api_url + "/version", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"server did not start: {self.log_file.read_text()[-3000:]}")

    def stop(self) -> None:
        end_process(self.process, timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()


def start_server(backend: str = "sqlite", **kwargs) -> tuple[LiveServer, callable]:
    """Start a server on a fresh database; returns it and a cleanup function."""
    workdir = Path(tempfile.mkdtemp(prefix="v6server-"))
    pg_name = None
    if backend == "postgresql":
        uri, pg_name = create_pg_database()
    else:
        uri = f"sqlite:///{workdir / 'server.sqlite'}"
    server = LiveServer(database_uri=uri, workdir=workdir, **kwargs).start()

    def cleanup() -> None:
        server.stop()
        if pg_name:
            drop_pg_database(pg_name)

    return server, cleanup
