"""The published vantage6-node 4.14 as a station of a test federation (tests/node/harness.py).

The node runs on the host (its non-dockerized mode, started by ``run_published_node.py``) from
its own Python 3.10 venv, against our live server on loopback. Its docker SDK talks to a
private ``podman system service`` (Docker API). What the node needs outside its own image,
read from its source:

- a YAML config in the 4.x node format; ``directories`` puts its logs and data (task folders,
  the copied CSV) under the test's folder; the instance name (the config file's stem) names
  its containers (``vantage6-NAME-run-RUN``), volumes (``vantage6-NAME-user-JOB-tmpvol``) and
  network (``vantage6-NAME-user-net``), so every node gets a unique name;
- ``PROXY_SERVER_PORT``: where its proxy listens (all interfaces); ``PROXY_SERVER_HOST``: how
  an algorithm container reaches it. The node puts algorithms on its own bridge network,
  where podman names the host ``host.containers.internal``;
- no ``vpn_subnet``, ``ssh-tunnels`` or ``whitelist`` keys: VPN, SSH tunnels and squid stay off;
  its VPN manager still pulls three helper images at every start and the node stops when one
  is missing, so ``images`` names a local image for them (a failed pull falls back to it);
- ``require_algorithm_pull: false``: its default policy refuses local images that cannot be
  pulled, and the test images exist only locally.
"""

from __future__ import annotations

import json
import re
import secrets
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.livestack import LiveServer, end_process, free_port
from tests.node.harness import BASE_IMAGE, Station, podman, podman_env
from tests.published import published_node_python

LAUNCHER = Path(__file__).with_name("run_published_node.py")
LOG_FORMAT = "%(asctime)s - %(name)-14s - %(levelname)-8s - %(message)s"
# libraries whose debug output would drown the node's own lines
QUIET_LOGGERS = ("urllib3", "requests", "socketio", "engineio", "docker", "gevent")
ERROR_LINE = re.compile(r" - (ERROR|CRITICAL) +- ")


@dataclass
class PublishedNode:
    """One station run by the published node; ``start``/``stop`` like our ``Station``."""

    station: Station
    server: LiveServer
    docker_url: str
    name: str = field(default_factory=lambda: f"pub{secrets.token_hex(4)}")
    proxy_port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    # -- files -----------------------------------------------------------------------------------
    @property
    def folder(self) -> Path:
        return self.station.workdir / "published"

    @property
    def config_path(self) -> Path:
        return self.folder / f"{self.name}.yaml"

    @property
    def log_path(self) -> Path:
        return self.folder / "log" / "node_user.log"

    @property
    def proxy_log_path(self) -> Path:
        return self.folder / "log" / "proxy_server_user.log"

    @property
    def output_path(self) -> Path:
        return self.folder / "output.log"

    def config(self) -> dict[str, Any]:
        station = self.station
        return {
            "api_key": station.api_key,
            "server_url": "http://127.0.0.1",
            "port": self.server.port,
            "api_path": "/api",
            "task_dir": str(self.folder / "data"),
            "directories": {"log": str(self.folder / "log"), "data": str(self.folder / "data")},
            "databases": [{"label": "default", "uri": str(station.data_path), "type": "csv"}],
            "encryption": {
                "enabled": station.private_key is not None,
                "private_key": str(station.private_key or ""),
            },
            "policies": {"require_algorithm_pull": False},
            # pulled at every start even with the VPN off; never run without it
            "images": {name: BASE_IMAGE for name in ("alpine", "vpn_client", "network_config")},
            "share_algorithm_logs": True,
            "logging": {
                "level": "DEBUG",
                "use_console": False,
                "backup_count": 3,
                "max_size": 10240,
                "format": LOG_FORMAT,
                "datefmt": "%Y-%m-%d %H:%M:%S",
                "loggers": [{"name": name, "level": "WARNING"} for name in QUIET_LOGGERS],
            },
        }

    def write_config(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.config_path.write_text(yaml.safe_dump(self.config()))

    # -- process ---------------------------------------------------------------------------------
    def environment(self) -> dict[str, str]:
        env = podman_env()
        for name in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME"):
            env.pop(name, None)
        env.update(
            DOCKER_HOST=self.docker_url,
            PROXY_SERVER_HOST="host.containers.internal",
            PROXY_SERVER_PORT=str(self.proxy_port),
        )
        return env

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        python = published_node_python()
        if not self.config_path.exists():
            self.write_config()
        output = open(self.output_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [str(python), str(LAUNCHER), str(self.config_path)],
            cwd=self.folder,
            env=self.environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )
        output.close()
        # the federation helpers (wait_online, logs) look at the station's process
        self.station.process = self.process

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> None:
        """Stop the node (SIGTERM: it kills its algorithm containers and removes its network)."""
        end_process(self.process, sig, timeout)

    def remove_engine_objects(self) -> None:
        """Containers, volumes and the network this node left in the engine."""
        listed = podman("ps", "-a", "--format", "json", "--filter", f"label=node={self.name}")
        for container in json.loads(listed.stdout or "[]"):
            podman("rm", "-f", container["Id"], check=False)
        volumes = podman("volume", "ls", "--format", "{{.Name}}", check=False).stdout.split()
        for volume in volumes:
            if volume.startswith(f"vantage6-{self.name}-"):
                podman("volume", "rm", "-f", volume, check=False)
        podman("network", "rm", "-f", f"vantage6-{self.name}-user-net", check=False)

    # -- logs ------------------------------------------------------------------------------------
    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def output_text(self) -> str:
        """What the process wrote to stdout/stderr (exceptions of its socket threads land here)."""
        try:
            return self.output_path.read_text(errors="replace")
        except OSError:
            return ""

    def marks(self) -> tuple[int, int]:
        """Current lengths of the log and the output, for ``problems(since=...)``."""
        return len(self.log_text()), len(self.output_text())

    def problems(self, since: tuple[int, int] = (0, 0)) -> list[str]:
        """ERROR/CRITICAL lines of the node's log and tracebacks on its output after ``since``
        (the proxy keeps a log of its own)."""
        log_from, output_from = since
        found = [
            line for line in self.log_text()[log_from:].splitlines() if ERROR_LINE.search(line)
        ]
        output = self.output_text()[output_from:]
        if "Traceback" in output:
            found.append(f"output: {output[-3000:]}")
        return found

    def wait_log(self, pattern: str, timeout: float = 120, after: int = 0) -> re.Match[str]:
        """Wait until the node's log (from character ``after`` on) matches ``pattern``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            found = regex.search(self.log_text(), after)
            if found:
                return found
            if self.process is not None and self.process.poll() is not None:
                raise AssertionError(f"published node exited:\n{self.tail()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not in the published node's log:\n{self.tail()}")
            time.sleep(0.2)

    def tail(self, chars: int = 6000) -> str:
        text = self.log_text()[-chars:]
        output = self.output_text()[-2000:]
        return f"{text}\n--- output ---\n{output}" if output.strip() else text


def published_logs(nodes: list[PublishedNode]) -> str:
    return "\n".join(f"===== published {n.name} =====\n{n.tail()}" for n in nodes)


__all__ = ["PublishedNode", "published_logs"]
