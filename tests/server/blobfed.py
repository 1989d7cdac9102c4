"""A server with a blob store, a small federation on it, and a look behind the store.

Collaboration X = {A, B} (nodes nA, nB), Y = {C} (node nC), Q = {A} (node nQ, for the quota);
researchers alice (A), bob (B), carol (C). Used by the blob lifecycle tests.
"""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.api import Api
from tests.livestack import LiveServer, start_server
from vantage6_server.storage import StorageBackend, StorageContext, storage_from_config

MIB = 1024 * 1024
PASSWORD = "Blob-Pass-1!"


def store_section(kind: str, workdir: Path, moto_url: str | None) -> dict[str, Any]:
    """A fresh ``large_result_store`` section (backend settings only) of ``kind``."""
    if kind == "filesystem":
        return {"type": "filesystem", "path": str(workdir / f"blobs-{secrets.token_hex(4)}")}
    import boto3

    bucket = f"v6-{secrets.token_hex(6)}"
    client = boto3.client(
        "s3",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    client.create_bucket(Bucket=bucket)
    client.close()
    return {
        "type": "s3",
        "bucket": bucket,
        "endpoint_url": moto_url,
        "access_key_id": "test",
        "secret_access_key": "test",
        "part_size_mib": 5,
        "max_attempts": 1,
        "connect_timeout_seconds": 2,
        "read_timeout_seconds": 10,
    }


@dataclass
class BlobServer:
    """A live server with a store, and the same store opened from the test."""

    server: LiveServer
    store: StorageBackend
    section: dict[str, Any]
    cleanup: Callable[[], None]

    def rows(self, where: str = "1=1", *params: object) -> list[tuple]:
        """``(uuid, uploader_kind, uploader_id, size, task_id, run_id, role)`` of blob rows."""
        query = (
            "SELECT uuid, uploader_kind, uploader_id, size, task_id, run_id, role "
            f"FROM blob WHERE {where}"
        )
        uri = self.server.database_uri
        if uri.startswith("postgresql"):
            import psycopg

            with psycopg.connect(uri) as connection:
                return connection.execute(query.replace("?", "%s"), params).fetchall()
        database = uri.removeprefix("sqlite:///")
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as connection:
            return connection.execute(query, params).fetchall()

    def objects(self) -> set[str]:
        return set(self.store.ids())

    def stop(self) -> None:
        self.store.close()
        self.cleanup()


def start_blob_server(
    section: dict[str, Any], workdir: Path, database: str = "sqlite", **policy: Any
) -> BlobServer:
    config = workdir / f"server-{secrets.token_hex(4)}.yaml"
    config.write_text(yaml.safe_dump({"large_result_store": {**section, **policy}}))
    server, cleanup = start_server(database, config_file=config)
    store = storage_from_config(section, StorageContext(data_dir=workdir))
    return BlobServer(server, store, section, cleanup)


@dataclass
class Fed:
    """Ids and sessions of the federation, by short name."""

    root: Api
    ids: dict[str, int] = field(default_factory=dict)
    apis: dict[str, Api] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def __getitem__(self, name: str) -> Api:
        return self.apis[name]


def build_fed(server: LiveServer, root: Api) -> Fed:
    fed = Fed(root=root)
    roles = {r["name"]: r["id"] for r in root.ok("GET", "/role", params={"per_page": 100})["data"]}
    for org in "ABC":
        fed.ids[org] = root.ok("POST", "/organization", json={"name": f"blob-org-{org}"})["id"]
    for collab, members in (("X", "AB"), ("Y", "C"), ("Q", "A")):
        fed.ids[collab] = root.ok(
            "POST",
            "/collaboration",
            json={
                "name": f"blob-{collab}",
                "encrypted": False,
                "organization_ids": [fed.ids[o] for o in members],
            },
        )["id"]
        for org in members:
            node = root.ok(
                "POST",
                "/node",
                json={"collaboration_id": fed.ids[collab], "organization_id": fed.ids[org]},
            )
            name = f"n{org}" if collab != "Q" else "nQ"
            fed.ids[name] = node["id"]
            fed.keys[name] = node["api_key"]
            fed.apis[name] = Api.as_node(server.api_url, node["api_key"])
    for name, org in (("alice", "A"), ("bob", "B"), ("carol", "C")):
        fed.ids[name] = add_user(server, root, name, fed.ids[org], roles["Researcher"])
        fed.apis[name] = Api.as_user(server.api_url, name, PASSWORD)
    return fed


def add_user(server: LiveServer, root: Api, name: str, org_id: int, role_id: int) -> int:
    return root.ok(
        "POST",
        "/user",
        json={
            "username": name,
            "email": f"{name}@example.org",
            "password": PASSWORD,
            "organization_id": org_id,
            "roles": [role_id],
        },
    )["id"]


def pattern(size: int, seed: str = "") -> Iterator[bytes]:
    """``size`` bytes in chunks of at most 1 MiB, made as they are sent."""
    block = (seed.encode() or b"v6") * 1024
    sent = 0
    while sent < size:
        piece = (block * (MIB // len(block) + 1))[: min(MIB, size - sent)]
        sent += len(piece)
        yield piece


def upload(api: Api, body: Iterable[bytes] | bytes) -> httpx.Response:
    headers = {**api._headers(), "Content-Type": "application/octet-stream"}
    return api.http.post("/blobstream", content=body, headers=headers)


def uploaded(api: Api, body: Iterable[bytes] | bytes) -> str:
    answer = upload(api, body)
    assert answer.status_code == 201, answer.text
    return answer.json()["uuid"]


def download(api: Api, blob: str) -> httpx.Response:
    return api.get(f"/blobstream/{blob}")


def create_task(api: Api, collab_id: int, inputs: dict[int, str]) -> httpx.Response:
    return api.post(
        "/task",
        json={
            "image": "img:1",
            "name": "blob-task",
            "collaboration_id": collab_id,
            "organizations": [{"id": org, "input": ref} for org, ref in inputs.items()],
        },
    )


def runs_of(api: Api, task_id: int) -> dict[int, dict]:
    """The task's runs by organization id."""
    data = api.ok("GET", "/run", params={"task_id": task_id})["data"]
    return {run["organization"]["id"]: run for run in data}


def wait_for(condition: Callable[[], bool], timeout: float = 30, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)
