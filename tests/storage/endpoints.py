"""Real storage endpoints on loopback for the tests: a moto S3 server and Azurite.

Both are subprocesses (so their memory does not count in a test's ``tracemalloc``), started on a
free port and stopped by the tests. Without them (``scripts/install.sh`` installs both) a
developer's run skips; under CI it fails, as for the published vantage6 venvs.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from tests.livestack import end_process, free_port
from tests.published import _require, missing

AZURITE_DIR = Path(
    os.environ.get("V6_AZURITE_DIR", str(Path.home() / ".cache" / "vantage6-next" / "azurite"))
)
# Azurite's built-in development account (public, documented by Microsoft for the emulator).
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = (
    "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)


@dataclass
class Endpoint:
    """A storage server subprocess listening on ``127.0.0.1:port``."""

    process: subprocess.Popen
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        end_process(self.process)


def _wait_listening(process: subprocess.Popen, port: int, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"storage endpoint exited ({process.returncode}): {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    end_process(process)
    raise RuntimeError(f"storage endpoint not listening on {port} after {timeout} s")


def _start(command: list[str], port: int, log: Path) -> Endpoint:
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
    _wait_listening(process, port, log)
    return Endpoint(process, port, log)


def start_moto(workdir: Path) -> Endpoint:
    """``moto_server`` (S3 API, in memory) on a free loopback port."""
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        missing("moto[server] is not installed (pip install 'moto[server]')")
    port = free_port()
    command = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    return _start(command, port, workdir / f"moto-{port}.log")


def start_azurite(workdir: Path) -> Endpoint:
    """Azurite's blob service on a free loopback port, keeping its data under ``workdir``."""
    binary = _require(
        AZURITE_DIR / "node_modules" / ".bin" / "azurite-blob", "Azurite (npm)", "V6_AZURITE_DIR"
    )
    port = free_port()
    location = workdir / f"azurite-{port}"
    location.mkdir()
    command = [
        str(binary),
        "--blobHost",
        "127.0.0.1",
        "--blobPort",
        str(port),
        "--location",
        str(location),
        "--skipApiVersionCheck",
        "--loose",
        "--silent",
    ]
    return _start(command, port, workdir / f"azurite-{port}.log")


def azurite_connection_string(endpoint: Endpoint) -> str:
    """The connection string a vantage6 4.13+ config would hold for this Azurite."""
    return (
        f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
        f"BlobEndpoint={endpoint.url}/{AZURITE_ACCOUNT};"
    )
