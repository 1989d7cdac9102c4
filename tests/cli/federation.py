"""A small real federation made only with ``v6`` commands (server, import, node), for the
tests of issue 12: what a new user does in their first hour."""

from __future__ import annotations

import json
import shutil
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.cli.conftest import Env, run_v6
from tests.cli.test_server_node import free_port

PASSWORD = "First-Hour-Pass-1!"
AGES = [31, 45, 52, 67, 29, 74]
SQL_AGES = [20, 30, 40]


@dataclass
class Federation:
    env: Env
    port: int
    api_url: str
    username: str = "ann"
    password: str = PASSWORD
    collaboration: int = 0
    organization: int = 0
    node_keys: dict[str, str] = field(default_factory=dict)

    @property
    def login(self) -> dict[str, str]:
        return {
            "V6_SERVER_URL": self.api_url,
            "V6_USERNAME": self.username,
            "V6_PASSWORD": self.password,
        }

    def v6(self, *args, **extra):
        return run_v6(self.env, *args, **{**self.login, **extra})


PARQUET_AGES = [11, 22, 33, 44]


def write_data(folder: Path) -> tuple[Path, Path, Path]:
    import pandas as pd

    folder.mkdir(parents=True, exist_ok=True)
    parquet = folder / "visits.parquet"
    pd.DataFrame({"age": PARQUET_AGES}).to_parquet(parquet)
    csv = folder / "patients.csv"
    csv.write_text("age\n" + "\n".join(str(a) for a in AGES) + "\n")
    db = folder / "records.sqlite"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE patients (age INTEGER, name TEXT)")
        conn.executemany("INSERT INTO patients VALUES (?, ?)", [(a, f"p{a}") for a in SQL_AGES])
    return csv, db, parquet


def start_federation(root: Path, with_node: bool = True) -> Federation:
    """``v6 server new/start``, ``v6 server import`` (one organization with user ann, one
    collaboration) and, with ``with_node``, ``v6 node new/start`` with its defaults."""
    env = Env(root)
    port = free_port()
    made = run_v6(env, "server", "new", "hq", "--port", port, "--no-input")
    assert made.returncode == 0, made.stderr
    started = run_v6(env, "server", "start", "hq")
    assert started.returncode == 0, started.stderr
    fed = Federation(env, port, f"http://127.0.0.1:{port}/api")
    spec = root / "fixtures.yaml"
    spec.write_text(
        yaml.safe_dump(
            {
                "organizations": [
                    {
                        "name": "Clinic",
                        "users": [
                            {"username": "ann", "password": PASSWORD, "roles": ["Researcher"]}
                        ],
                    }
                ],
                "collaborations": [{"name": "Study", "participants": [{"name": "Clinic"}]}],
            }
        )
    )
    imported = run_v6(env, "server", "import", spec, "--json")
    assert imported.returncode == 0, imported.stderr
    report = json.loads(imported.stdout)
    fed.collaboration = next(r["id"] for r in report if r["kind"] == "collaboration")
    fed.organization = next(r["id"] for r in report if r["kind"] == "organization")
    fed.node_keys = {r["name"]: r["api_key"] for r in report if r["kind"] == "node"}
    if with_node:
        if shutil.which("podman") is None:
            stop_federation(fed)
            pytest.skip("podman is not installed")
        from containers.images import ensure_images

        ensure_images(["demo"])  # up to date with this checkout (e.g. pyarrow in the base)
        csv, db, parquet = write_data(root / "data")
        made = run_v6(
            env,
            "node",
            "new",
            "clinic",
            "--api-key",
            next(iter(fed.node_keys.values())),
            "--database",
            f"default={csv}",
            "--database",
            f"records=sqlite:///{db}",
            "--database",
            f"visits={parquet}",
            "--no-input",
        )
        assert made.returncode == 0, made.stderr
        node = run_v6(env, "node", "start", "clinic", "--timeout", 180, timeout=300)
        if node.returncode != 0:
            stop_federation(fed)
            pytest.fail(f"node start failed: {node.stderr}")
    return fed


def stop_federation(fed: Federation) -> None:
    run_v6(fed.env, "node", "stop", "--all")
    run_v6(fed.env, "server", "stop", "--all")
