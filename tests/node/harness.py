"""A federation for node tests: a live server, organizations with CSV data, node processes."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from tests.api import Api
from tests.livestack import LiveServer, end_process
from vantage6_common import crypto
from vantage6_common.scheme_policy import DEFAULT_SETTING, SchemePolicy
from vantage6_node.runs.folder import RunFolder

REPO = Path(__file__).resolve().parents[2]
DEMO_IMAGE = "localhost/v6-demo:latest"
BASE_IMAGE = "localhost/v6-base:latest"
PASSWORD = "Research-Pass-1!"


def podman_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    return env


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args], capture_output=True, text=True, env=podman_env(), check=check
    )


def image_present(image: str) -> bool:
    return podman("image", "exists", image, check=False).returncode == 0


@dataclass
class Station:
    """One organization with its node."""

    index: int
    org_id: int
    node_id: int
    api_key: str
    workdir: Path
    data: pd.DataFrame
    private_key: Path | None = None
    process: subprocess.Popen | None = None
    extra_config: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.workdir / "node.yaml"

    @property
    def log_path(self) -> Path:
        return self.workdir / "node.log"

    @property
    def task_dir(self) -> Path:
        return self.workdir / "tasks"

    def run_folder(self, run_id: int) -> RunFolder:
        """The node's folder of a run (its layout is the node's own)."""
        return RunFolder(self.task_dir / "runs", run_id)

    @property
    def data_path(self) -> Path:
        return self.workdir / "data.csv"

    def config(self, server: LiveServer) -> dict[str, Any]:
        cfg: dict[str, Any] = {
            "api_key": self.api_key,
            "server_url": "http://127.0.0.1",
            "port": server.port,
            "api_path": "/api",
            "task_dir": str(self.task_dir),
            "databases": [{"label": "default", "uri": str(self.data_path), "type": "csv"}],
            "policies": {"require_algorithm_pull": False},
            "log_level": "DEBUG",
            "resync_interval": 30,
        }
        if self.private_key is not None:
            cfg["encryption"] = {"enabled": True, "private_key": str(self.private_key)}
        _merge(cfg, self.extra_config)
        return cfg

    def write_config(self, server: LiveServer) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.data.to_csv(self.data_path, index=False)
        self.config_path.write_text(yaml.safe_dump(self.config(server)))

    def start(self) -> None:
        assert self.process is None or self.process.poll() is not None
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vantage6_node", "--config", str(self.config_path)],
            cwd=REPO,
            env=podman_env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> None:
        end_process(self.process, sig, timeout)

    def kill(self) -> None:
        self.stop(signal.SIGKILL)

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def wait_log(self, pattern: str, after: int = 0, timeout: float = 120) -> None:
        """Wait until the node's log (from byte ``after`` on) matches ``pattern``."""
        deadline = time.monotonic() + timeout
        regex = re.compile(pattern)
        while not regex.search(self.log_path.read_bytes()[after:].decode(errors="replace")):
            assert time.monotonic() < deadline, f"{pattern!r} not logged\n{self.log_tail()}"
            time.sleep(0.3)


def _merge(into: dict, extra: dict) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class Federation:
    """Organizations, a collaboration, nodes and a researcher on a live server."""

    def __init__(
        self,
        server: LiveServer,
        root: Api,
        workdir: Path,
        datasets: list[pd.DataFrame],
        encrypted: bool = False,
        extra_config: dict[str, Any] | None = None,
        encryption_scheme: str | None = None,
        input_scheme: str | None = None,
    ) -> None:
        """``encryption_scheme``: the collaboration's setting (None: the server's default);
        ``input_scheme``: the format of the researcher's task input (default: the setting's)."""
        self.server = server
        policy = SchemePolicy(encryption_scheme or DEFAULT_SETTING)
        self.input_scheme = input_scheme or policy.write_scheme
        self.root = root
        self.workdir = workdir
        self.encrypted = encrypted
        tag = secrets.token_hex(3)
        self.tag = tag
        org_ids = []
        for i in range(len(datasets)):
            org = root.ok("POST", "/organization", json={"name": f"org-{tag}-{i}"})
            org_ids.append(org["id"])
        body = {"name": f"collab-{tag}", "organization_ids": org_ids, "encrypted": encrypted}
        if encryption_scheme is not None:
            body["encryption_scheme"] = encryption_scheme
        collab = root.ok("POST", "/collaboration", json=body)
        self.collaboration_id = collab["id"]
        self.stations: list[Station] = []
        for i, (org_id, data) in enumerate(zip(org_ids, datasets, strict=True)):
            node = root.ok(
                "POST",
                "/node",
                json={"collaboration_id": self.collaboration_id, "organization_id": org_id},
            )
            station = Station(
                index=i,
                org_id=org_id,
                node_id=node["id"],
                api_key=node["api_key"],
                workdir=workdir / f"station{i}",
                data=data,
                extra_config=dict(extra_config or {}),
            )
            if encrypted:
                station.workdir.mkdir(parents=True, exist_ok=True)
                station.private_key = station.workdir / "private_key.pem"
                crypto.save_private_key(crypto.generate_private_key(2048), station.private_key)
            station.write_config(server)
            self.stations.append(station)
        roles = root.ok("GET", "/role", params={"name": "Researcher", "per_page": 100})["data"]
        username = f"researcher-{tag}"
        root.ok(
            "POST",
            "/user",
            json={
                "username": username,
                "firstname": "Re",  # vantage6 4.x requires both names
                "lastname": "Searcher",
                "email": f"{username}@example.org",
                "password": PASSWORD,
                "organization_id": org_ids[0],
                "roles": [roles[0]["id"]],
            },
        )
        self.researcher_username = username
        self.researcher = Api.as_user(server.api_url, username, PASSWORD)
        self._cryptor: crypto.CryptorBase = (
            crypto.Cryptor(self.stations[0].private_key) if encrypted else crypto.DummyCryptor()
        )

    # -- nodes -----------------------------------------------------------------------------------
    def start(self, wait: bool = True) -> None:
        for station in self.stations:
            station.start()
        if wait:
            self.wait_online()

    def wait_online(self, stations: list[Station] | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        for station in stations or self.stations:
            while True:
                node = self.root.ok("GET", f"/node/{station.node_id}")
                if node.get("status") == "online":
                    break
                if station.process is not None and station.process.poll() is not None:
                    raise AssertionError(f"node {station.index} exited:\n{station.log_tail()}")
                if time.monotonic() > deadline:
                    raise AssertionError(f"node {station.index} not online:\n{station.log_tail()}")
                time.sleep(0.1)
        if self.encrypted:
            # wait until every organization's public key is on the server
            for station in stations or self.stations:
                while not self.root.ok("GET", f"/organization/{station.org_id}").get("public_key"):
                    if time.monotonic() > deadline:
                        raise AssertionError("public key not uploaded")
                    time.sleep(0.1)

    def stop(self) -> None:
        for station in self.stations:
            station.stop()
        # a stopped node leaves the containers of unfinished runs for its next start; tests do
        # not start it again, so take them away (algorithms before their forwarders)
        for station in self.stations:
            try:
                instance = instance_of(station)
            except (OSError, ValueError, KeyError):
                continue
            found = containers_of(instance)
            ordered = sorted(found, key=lambda c: c["Labels"].get("v6node.role") != "algorithm")
            for container in ordered:
                podman("rm", "-f", container["Id"], check=False)
            for path in Path("/tmp").glob(f"v6n-{instance[:12]}"):
                shutil.rmtree(path, ignore_errors=True)

    def logs(self) -> str:
        return "\n".join(f"===== node {s.index} =====\n{s.log_tail(6000)}" for s in self.stations)

    # -- tasks -----------------------------------------------------------------------------------
    def encode_input(self, org_id: int, payload: dict[str, Any]) -> str:
        data = json.dumps(payload).encode()
        if not self.encrypted:
            return base64.b64encode(data).decode()
        key = self.root.ok("GET", f"/organization/{org_id}")["public_key"]
        return self._cryptor.encrypt_bytes_to_str(data, key, scheme=self.input_scheme)

    def create_task(
        self,
        payload: dict[str, Any],
        org_ids: list[int] | None = None,
        image: str = DEMO_IMAGE,
        databases: list[dict[str, Any]] | None = None,
        name: str = "test task",
        store_id: int | None = None,
    ) -> dict[str, Any]:
        org_ids = org_ids or [s.org_id for s in self.stations]
        body = {
            "name": name,
            "image": image,
            "collaboration_id": self.collaboration_id,
            "organizations": [{"id": o, "input": self.encode_input(o, payload)} for o in org_ids],
            "databases": databases if databases is not None else [{"label": "default"}],
        }
        if store_id is not None:
            body["store_id"] = store_id
        return self.researcher.ok("POST", "/task", json=body)

    def wait_marker(
        self, station: Station, task_id: int, marker: str, timeout: float = 90
    ) -> dict[str, Any]:
        """Wait until the station's run of the task wrote ``marker`` into its ``/mnt/tmp``."""
        deadline = time.monotonic() + timeout
        while True:
            for run in self.runs(task_id):
                if run["organization"]["id"] == station.org_id:
                    if (station.run_folder(run["id"]).tmp_dir / marker).exists():
                        return run
            assert time.monotonic() < deadline, self.logs()
            time.sleep(0.1)

    def wait_task(self, task_id: int, timeout: float = 120) -> str:
        deadline = time.monotonic() + timeout
        while True:
            status = self.researcher.ok("GET", f"/task/{task_id}/status")["status"]
            if status not in ("pending", "initializing", "active"):
                return status
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} still {status}\n{self.logs()}")
            time.sleep(0.1)

    def runs(self, task_id: int) -> list[dict[str, Any]]:
        return self.researcher.ok("GET", "/run", params={"task_id": task_id, "per_page": 100})[
            "data"
        ]

    def results(self, task_id: int) -> list[Any]:
        out = []
        for item in self.researcher.ok(
            "GET", "/result", params={"task_id": task_id, "per_page": 100}
        )["data"]:
            value = item.get("result")
            out.append(None if not value else json.loads(self._cryptor.decrypt_str_to_bytes(value)))
        return out

    def wait_runs_settled(self, task_id: int, timeout: float = 120) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            runs = self.runs(task_id)
            if runs and all(r["status"] not in ("pending", "initializing", "active") for r in runs):
                return runs
            if time.monotonic() > deadline:
                raise AssertionError(f"runs of task {task_id} not settled: {runs}\n{self.logs()}")
            time.sleep(0.1)


def containers_of(instance_label: str | None = None) -> list[dict[str, Any]]:
    args = ["ps", "-a", "--format", "json"]
    if instance_label:
        args += ["--filter", f"label=v6node.instance={instance_label}"]
    out = podman(*args).stdout.strip()
    return json.loads(out) if out else []


def instance_of(station: Station) -> str:
    return json.loads((station.task_dir / "node.json").read_text())["instance_id"]
