"""Start a real algorithm store for tests: ``python -m vantage6_store`` on loopback."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.livestack import REPO, create_pg_database, drop_pg_database, end_process, free_port


@dataclass
class LiveStore:
    """A running store subprocess with its own database and YAML config."""

    database_uri: str
    workdir: Path
    config: dict
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return self.url + "/api"

    @property
    def log_file(self) -> Path:
        return self.workdir / "store.log"

    def start(self, timeout: float = 60) -> LiveStore:
        config_file = self.workdir / "store.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        cmd = [
            sys.executable,
            "-m",
            "vantage6_store",
            "--config",
            str(config_file),
            "--port",
            str(self.port),
            "--database-uri",
            self.database_uri,
            "--log-level",
            "warning",
        ]
        self._log = open(self.log_file, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(cmd, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"store exited: {self.log_file.read_text()[-3000:]}")
            try:
                if httpx.get(self.api_url + "/version", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"store did not start: {self.log_file.read_text()[-3000:]}")

    def stop(self) -> None:
        end_process(self.process, timeout=10)
        if getattr(self, "_log", None):
            self._log.close()

    def restart(self, config: dict | None = None) -> LiveStore:
        """Stop, optionally swap the config (e.g. other policies), and start again."""
        self.stop()
        if config is not None:
            self.config = config
        return self.start()


def start_store(config: dict, backend: str = "sqlite") -> tuple[LiveStore, callable]:
    """Start a store on a fresh database; returns it and a cleanup function."""
    workdir = Path(tempfile.mkdtemp(prefix="v6store-"))
    pg_name = None
    if backend == "postgresql":
        uri, pg_name = create_pg_database()
    else:
        uri = f"sqlite:///{workdir / 'store.sqlite'}"
    store = LiveStore(database_uri=uri, workdir=workdir, config=config).start()

    def cleanup() -> None:
        store.stop()
        if pg_name:
            drop_pg_database(pg_name)

    return store, cleanup
