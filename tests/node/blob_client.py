"""A researcher's side of a blob task with our client (``vantage6_client``), in its own process
(so its memory is its own).

Writes a large ``v6nodetest.blob_result`` input to a file, creates the task from it with
``client.task.create(input_file=...)`` (streamed to the blob store once per organization,
encrypted for it in an encrypted collaboration), waits for it, streams each result to a file
with ``client.result.download`` and checks the file by hash. Prints one JSON line: the task,
per run what arrived, and this process's resident memory (baseline and peak).

Usage: python -m tests.node.blob_client '<json job>'
job: api_url, username, password, collaboration_id, org_ids, image, pad_mib, result_mib,
     private_key (path or null), workdir
"""

from __future__ import annotations

import hashlib
import json
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from vantage6_client import Client

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


def write_input(path: Path, pad_mib: int, result_mib: int) -> tuple[str, int]:
    """The task's serialized input (JSON with ``pad_mib`` MiB of filler) written to ``path``
    a MiB at a time; its sha256 and size."""
    head = json.dumps({"method": "blob_result", "kwargs": {"size_mib": result_mib, "pad": ""}})
    prefix, suffix = head[:-3].encode(), head[-3:].encode()  # split inside "pad": ""
    digest, size = hashlib.sha256(), 0
    with path.open("wb") as fp:
        for piece in (prefix, *([FILLER_BLOCK] * pad_mib), suffix):
            digest.update(piece)
            size += len(piece)
            fp.write(piece)
    return digest.hexdigest(), size


def expected_result(input_sha: str, input_bytes: int, result_mib: int) -> tuple[str, int]:
    """The sha256 and size of what ``blob_result`` returns for this input."""
    head = json.dumps({"input_sha256": input_sha, "input_bytes": input_bytes})
    digest = hashlib.sha256()
    size = 0
    for piece in (head[:-1].encode() + b', "filler": "', *([FILLER_BLOCK] * result_mib), b'"}'):
        digest.update(piece)
        size += len(piece)
    return digest.hexdigest(), size


def file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as fp:
        for piece in iter(lambda: fp.read(MIB), b""):
            digest.update(piece)
            size += len(piece)
    return digest.hexdigest(), size


def main(job: dict[str, Any]) -> dict[str, Any]:
    workdir = Path(job["workdir"])
    client = Client(job["api_url"], log_level="warning")
    client.authenticate(job["username"], job["password"])
    client.setup_encryption(job["private_key"])
    rss = PeakRss()
    started = time.monotonic()
    source = workdir / "input.json"
    input_sha, input_bytes = write_input(source, job["pad_mib"], job["result_mib"])
    written = time.monotonic()
    task = client.task.create(
        collaboration=job["collaboration_id"],
        organizations=job["org_ids"],
        name="blob task",
        image=job["image"],
        input_file=source,
    )
    uploaded = time.monotonic()
    status = client.task.wait(task["id"], timeout=job.get("timeout", 600))
    finished = time.monotonic()
    want = expected_result(input_sha, input_bytes, job["result_mib"])
    runs = []
    for run in client.run.from_task(task["id"], decrypt_input=False).data:
        # the reference as the server holds it (the client's getters would fetch the blob)
        stored = client.transport.request("GET", f"result/{run['id']}")
        got: dict[str, Any] = {
            "blob_storage_used": run.get("blob_storage_used"),
            "result_ref": stored.get("result"),
        }
        if stored.get("result"):
            target = workdir / f"result-{run['id']}.json"
            size = client.result.download(run["id"], target)
            got["bytes"] = size
            got["matches"] = file_digest(target) == want
            target.unlink()
        runs.append(got)
    done = time.monotonic()
    source.unlink()
    return {
        "task_id": task["id"],
        "status": status,
        "runs": runs,
        "input_bytes": input_bytes,
        "expected_result_bytes": want[1],
        "rss": rss.stop(),
        "seconds": {
            "write_input": written - started,
            "upload": uploaded - written,
            "run": finished - uploaded,
            "download": done - finished,
        },
    }


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))), flush=True)
