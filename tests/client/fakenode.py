"""A stand-in for a node in client tests: it takes runs and reports results over REST."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx

from vantage6_common import blob_crypto, crypto, serialization


class FakeNode:
    """Logs in with an API key, reads its open runs and finishes them with a result."""

    def __init__(self, api_url: str, api_key: str, private_key: Path | None = None) -> None:
        self.http = httpx.Client(base_url=api_url, timeout=30)
        answer = self.http.post("/token/node", json={"api_key": api_key})
        answer.raise_for_status()
        body = answer.json()
        self.http.headers["Authorization"] = f"Bearer {body['access_token']}"
        self.node_id = int(body["node_url"].rstrip("/").rsplit("/", 1)[-1])
        self.cryptor = crypto.Cryptor(private_key) if private_key else crypto.DummyCryptor()

    def open_runs(self) -> list[dict[str, Any]]:
        answer = self.http.get(
            "/run", params={"state": "open", "node_id": self.node_id, "include": "task"}
        )
        answer.raise_for_status()
        return answer.json()["data"]

    def read_input(self, run: dict[str, Any]) -> Any:
        return serialization.loads(self.cryptor.decrypt_str_to_bytes(run["input"]))

    def start(self, run: dict[str, Any]) -> None:
        self._patch(run["id"], {"status": "active", "started_at": _now()})

    def finish(
        self, run: dict[str, Any], result: Any, status: str = "completed", encrypt: bool = False
    ) -> httpx.Response:
        data = serialization.dumps_bytes(result)
        if encrypt:
            task = run["task"] if "init_org" in run.get("task", {}) else self._task(run)
            init_org = task["init_org"]["id"]
            org = self.http.get(f"/organization/{init_org}").json()
            text = self.cryptor.encrypt_bytes_to_str(data, org["public_key"])
        else:
            text = serialization.bytes_to_b64(data)
        return self._patch(
            run["id"],
            {"status": status, "result": text, "finished_at": _now(), "log": "done"},
        )

    def _task(self, run: dict[str, Any]) -> dict[str, Any]:
        return self.http.get(f"/task/{run['task']['id']}").json()

    def _patch(self, run_id: int, body: dict[str, Any]) -> httpx.Response:
        answer = self.http.patch(f"/run/{run_id}", json=body)
        answer.raise_for_status()
        return answer

    def close(self) -> None:
        self.http.close()


class BlobNode(FakeNode):
    """A stand-in node that reads inputs from and writes results to the blob store."""

    def read_input(self, run: dict[str, Any]) -> Any:
        assert run["blob_storage_used"] is True
        with self.http.stream("GET", f"/blobstream/{run['input']}") as answer:
            answer.raise_for_status()
            key = self.cryptor.private_key if isinstance(self.cryptor, crypto.Cryptor) else None
            raw = b"".join(blob_crypto.decode_chunks(answer.iter_bytes(), key))
        return serialization.loads(raw)

    def finish_with_blob(self, run: dict[str, Any], chunks: Iterator[bytes]) -> None:
        """Upload the result bytes (encrypted for the task's organization when this node has
        a key) and point the run at the blob."""
        public_key = None
        if isinstance(self.cryptor, crypto.Cryptor):
            init_org = self._task(run)["init_org"]["id"]
            public_key = self.http.get(f"/organization/{init_org}").json()["public_key"]
        answer = self.http.post(
            "/blobstream",
            content=blob_crypto.encode_chunks(chunks, public_key),
            headers={"Content-Type": "application/octet-stream"},
        )
        assert answer.status_code == 201, answer.text
        self._patch(
            run["id"],
            {"status": "completed", "result": answer.json()["uuid"], "log": "done"},
        )


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
