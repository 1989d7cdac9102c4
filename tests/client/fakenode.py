"""A stand-in for a node in client tests: it takes runs and reports results over REST."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import httpx

from vantage6_common import crypto, serialization


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


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()
