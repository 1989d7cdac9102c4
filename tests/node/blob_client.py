"""A researcher's side of a blob task, streamed, in its own process (so its memory is its own).

Uploads a large input for each organization (encrypted for it in an encrypted collaboration),
creates a ``v6nodetest.blob_result`` task, waits for it, downloads each result blob and checks
it byte for byte while it streams, never holding it. Prints one JSON line: the task, per run
what arrived, and this process's resident memory (baseline and peak).

Usage: python -m tests.node.blob_client '<json job>'
job: api_url, username, password, collaboration_id, org_ids, image, pad_mib, result_mib,
     encrypted, private_key (path or null)
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import psutil

from vantage6_common import blob_crypto, crypto

FILLER_BLOCK = (b"0123456789abcdef" * 65536)[: 1 << 20]
MIB = 1 << 20


class PeakRss:
    """Samples this process's resident memory in the background."""

    def __init__(self) -> None:
        self.proc = psutil.Process()
        self.baseline = self.proc.memory_info().rss
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.proc.memory_info().rss)
            time.sleep(0.02)

    def stop(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {"baseline": self.baseline, "peak": self.peak}


def input_chunks(pad_mib: int, result_mib: int, digest: Any) -> Iterator[bytes]:
    head = json.dumps({"method": "blob_result", "kwargs": {"size_mib": result_mib, "pad": ""}})
    prefix, suffix = head[:-3].encode(), head[-3:].encode()  # split inside "pad": ""
    for piece in (prefix, *([FILLER_BLOCK] * pad_mib), suffix):
        digest.update(piece)
        yield piece


def expected_result(input_sha: str, input_bytes: int, result_mib: int) -> tuple[str, int]:
    head = json.dumps({"input_sha256": input_sha, "input_bytes": input_bytes})
    digest = hashlib.sha256()
    size = 0
    for piece in (head[:-1].encode() + b', "filler": "', *([FILLER_BLOCK] * result_mib), b'"}'):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def main(job: dict[str, Any]) -> dict[str, Any]:
    api = job["api_url"].rstrip("/")
    http = httpx.Client(timeout=httpx.Timeout(600, connect=30))
    login = {"username": job["username"], "password": job["password"]}
    token = http.post(f"{api}/token/user", json=login).raise_for_status().json()["access_token"]
    auth = {"Authorization": f"Bearer {token}"}
    private_key = crypto.load_private_key(job["private_key"]) if job["encrypted"] else None
    rss = PeakRss()
    started = time.monotonic()

    organizations = []
    input_sha = ""
    input_bytes = 0
    for org_id in job["org_ids"]:
        public_key = None
        if job["encrypted"]:
            public_key = http.get(f"{api}/organization/{org_id}", headers=auth).json()["public_key"]
        digest = hashlib.sha256()
        plain = input_chunks(job["pad_mib"], job["result_mib"], digest)
        counted = _counting(plain)
        body = blob_crypto.encode_chunks(counted, public_key)
        headers = {**auth, "Content-Type": "application/octet-stream"}
        answer = http.post(f"{api}/blobstream", content=body, headers=headers)
        answer.raise_for_status()
        organizations.append({"id": org_id, "input": answer.json()["uuid"]})
        input_sha, input_bytes = digest.hexdigest(), counted.total  # same for every org
    uploaded = time.monotonic()
    task = http.post(
        f"{api}/task",
        headers=auth,
        json={
            "name": "blob task",
            "image": job["image"],
            "collaboration_id": job["collaboration_id"],
            "organizations": organizations,
            "databases": [],
        },
    )
    task.raise_for_status()
    task_id = task.json()["id"]
    deadline = time.monotonic() + job.get("timeout", 600)
    while True:
        status = http.get(f"{api}/task/{task_id}/status", headers=auth).json()["status"]
        if status not in ("pending", "initializing", "active"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"task {task_id} still {status}")
        time.sleep(0.2)
    finished = time.monotonic()
    want_sha, want_size = expected_result(input_sha, input_bytes, job["result_mib"])
    results = http.get(f"{api}/result", params={"task_id": task_id}, headers=auth).json()["data"]
    runs = []
    for item in results:
        got: dict[str, Any] = {"blob_storage_used": item.get("blob_storage_used")}
        ref = item.get("result")
        got["result_ref"] = ref
        if ref and item.get("blob_storage_used"):
            digest, size = hashlib.sha256(), 0
            with http.stream("GET", f"{api}/blobstream/{ref}", headers=auth) as resp:
                got["http_status"] = resp.status_code
                if resp.status_code == 200:
                    for piece in blob_crypto.decode_chunks(resp.iter_bytes(MIB), private_key):
                        digest.update(piece)
                        size += len(piece)
            got["matches"] = (digest.hexdigest(), size) == (want_sha, want_size)
            got["bytes"] = size
        runs.append(got)
    done = time.monotonic()
    return {
        "task_id": task_id,
        "status": status,
        "runs": runs,
        "input_bytes": input_bytes,
        "expected_result_bytes": want_size,
        "rss": rss.stop(),
        "seconds": {
            "upload": uploaded - started,
            "run": finished - uploaded,
            "download": done - finished,
        },
    }


class _counting:
    """Passes chunks through and counts their bytes."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.total = 0

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.total += len(chunk)
            yield chunk


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
