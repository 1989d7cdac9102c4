"""Runs whose input and result are blobs (issue 11), through a real node and podman.

The server keeps blobs in its filesystem store. Our client (driven by ``blob_client.py`` in its
own process) and the published vantage6-client 4.14 upload inputs and read results; the node
downloads the input blob into the run folder and uploads the result as a blob, streamed and
(in encrypted collaborations) end-to-end encrypted in vantage6 4.14's byte format.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import psutil
import pytest

from tests import blobserver
from tests.node.conftest import make_datasets
from tests.node.harness import PASSWORD, Federation
from tests.node.test_published_tools import published_image  # noqa: F401 - fixture
from tests.published import published_python
from tests.security.node_fixtures import evil_image  # noqa: F401 - fixture

# a live server with a filesystem blob store, for this module
blob_dir = blobserver.blob_dir
live_server = blobserver.live_server

pytestmark = [pytest.mark.containers, pytest.mark.timeout(900)]

REPO = Path(__file__).resolve().parents[2]
MIB = 1 << 20


@pytest.fixture(scope="module", params=[False, True], ids=["plain", "encrypted"])
def fed(request, podman_images, test_image, live_server, root_api, tmp_path_factory):
    federation = Federation(
        live_server,
        root_api,
        tmp_path_factory.mktemp("blobfed"),
        make_datasets(1),
        encrypted=request.param,
    )
    federation.start()
    yield federation
    federation.stop()


def run_client(fed: Federation, image: str, pad_mib: int, result_mib: int, workdir: Path) -> dict:
    """``blob_client.py`` (our client) in its own process; its JSON report."""
    job = {
        "api_url": fed.server.api_url,
        "username": fed.researcher_username,
        "password": PASSWORD,
        "collaboration_id": fed.collaboration_id,
        "org_ids": [s.org_id for s in fed.stations],
        "image": image,
        "pad_mib": pad_mib,
        "result_mib": result_mib,
        "private_key": str(fed.stations[0].private_key) if fed.encrypted else None,
        "workdir": str(workdir),
    }
    env = {**os.environ, "PYTHONPATH": f"{REPO}:{REPO / 'plugins'}"}
    done = subprocess.run(
        [sys.executable, "-m", "tests.node.blob_client", json.dumps(job)],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=800,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:], fed.logs())
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_blob_input_and_result(fed, test_image, blob_dir, tmp_path):
    """Input and result are blobs; the result decodes to exactly what the algorithm wrote."""
    report = run_client(fed, test_image, pad_mib=3, result_mib=2, workdir=tmp_path)
    assert report["status"] == "completed", (fed.runs(report["task_id"]), fed.logs())
    (run,) = report["runs"]
    assert run["blob_storage_used"] is True
    assert str(uuid.UUID(run["result_ref"])) == run["result_ref"]
    assert run["matches"], run
    # the server stores what the node sent: ciphertext (or base64), never the plain result
    stored = [p for p in blob_dir.rglob("*") if p.is_file() and run["result_ref"] in p.name]
    assert stored, list(blob_dir.rglob("*"))[:10]
    head = stored[0].read_bytes()[:4096]
    assert b'"filler"' not in head and b"input_sha256" not in head
    assert "input blob " in fed.stations[0].log_path.read_text()


def published_blob_task(fed: Federation, image: str, result_mib: int, pad_mib: int = 0) -> dict:
    """``published_blob_task.py`` with vantage6-client 4.14; its report, with its own peak
    resident memory growth (``client_growth``) added."""
    first = fed.stations[0]
    args = [
        str(published_python()),
        str(Path(__file__).parent / "published_blob_task.py"),
        "http://127.0.0.1",
        str(fed.server.port),
        fed.researcher_username,
        PASSWORD,
        str(first.private_key) if fed.encrypted else "-",
        str(fed.collaboration_id),
        str(first.org_id),
        image,
        str(result_mib),
        str(pad_mib),
    ]
    with subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) as proc:
        try:
            watch = RssWatch({"client": proc.pid})
        except psutil.Error:  # finished before it could be watched
            watch = None
        stdout, stderr = proc.communicate(timeout=600)
    assert proc.returncode == 0, (stdout[-2000:], stderr[-4000:], fed.logs())
    report = json.loads(stdout.strip().splitlines()[-1])
    report["client_growth"] = watch.growth()["client"] if watch else None
    return report


def test_published_client_uploads_input_and_reads_result(fed, test_image):
    """vantage6-client 4.14 sees the blob store, uploads its input and reads the result blob."""
    report = published_blob_task(fed, test_image, result_mib=1)
    (result,) = report["results"]
    assert result["blob_storage_used"] is True
    assert result["filler_bytes"] == MIB, result
    assert result["input_bytes"] > 0
    (run,) = fed.runs(report["task_id"])
    assert run["blob_storage_used"] is True


def test_published_algorithm_subtasks_through_the_proxy(fed, published_image):  # noqa: F811
    """The published algorithm tools 4.14 in a blob federation: the central part uploads each
    subtask's input through the node proxy (``POST /blobstream`` with ``X-Public-Key``,
    encrypted there) and reads the partial results through it (``GET /blobstream/<uuid>``,
    decrypted there); the published client creates the task and reads the result blob."""
    first = fed.stations[0]
    done = subprocess.run(
        [
            str(published_python()),
            str(Path(__file__).parent / "published_client_task.py"),
            "http://127.0.0.1",
            str(fed.server.port),
            fed.researcher_username,
            PASSWORD,
            str(first.private_key) if fed.encrypted else "-",
            str(fed.collaboration_id),
            str(first.org_id),
            published_image,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-4000:], fed.logs())
    report = json.loads(done.stdout.strip().splitlines()[-1])
    (result,) = report["results"]
    result = json.loads(result) if isinstance(result, str) else result
    ages = first.data["age"]
    assert result["count"] == len(ages)
    assert math.isclose(result["mean"], ages.mean(), rel_tol=1e-12)
    tasks = fed.root.ok(
        "GET", "/task", params={"collaboration_id": fed.collaboration_id, "per_page": 100}
    )["data"]
    subtasks = [t for t in tasks if (t.get("parent") or {}).get("id") == report["task_id"]]
    assert subtasks, tasks
    for subtask in subtasks:
        for run in fed.runs(subtask["id"]):
            assert run["blob_storage_used"] is True and run["status"] == "completed"
            assert str(uuid.UUID(run["input"])) == run["input"]  # a blob the proxy uploaded


# ------------------------------------------------------------------------------------------
# hostile output of a blob run
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def root_station(podman_images, evil_image, live_server, root_api, tmp_path_factory):  # noqa: F811
    """An encrypted station whose containers keep the image's user (root), with a 1 MiB cap."""
    fed = Federation(
        live_server,
        root_api,
        tmp_path_factory.mktemp("blob-evil"),
        make_datasets(1),
        encrypted=True,
        extra_config={"isolation": {"container_user": None}, "limits": {"max_blob": "1m"}},
    )
    fed.start()
    yield fed
    fed.stop()


@pytest.mark.parametrize(
    ("method", "kwargs"),
    [
        ("symlink_output", {"target": "/etc/hostname"}),
        ("fifo_output", {}),
        ("huge_output", {"size": 4 * MIB}),
    ],
    ids=["symlink", "fifo", "huge"],
)
def test_hostile_output_of_a_blob_run_fails_it(root_station, blob_dir, method, kwargs):
    fed = root_station
    report_before = {p.name for p in blob_dir.rglob("*") if p.is_file()}
    job_input = {"method": method, "kwargs": kwargs}
    task = _blob_task(fed, job_input, image="localhost/v6-evil:latest")
    (run,) = fed.wait_runs_settled(task["id"], timeout=180)
    assert run["status"] == "failed", run["log"]
    assert "[node] the output was refused: output " in run["log"], run["log"]
    assert not run.get("result")
    # no result blob was stored (the only new blob is the input)
    new = {p.name for p in blob_dir.rglob("*") if p.is_file()} - report_before
    assert len(new) <= 1, new
    assert fed.stations[0].process.poll() is None, fed.logs()


def _blob_task(fed: Federation, payload: dict, image: str) -> dict:
    """Create a task whose input is a blob uploaded by the researcher (one upload per org)."""
    from vantage6_common import blob_crypto

    data = json.dumps(payload).encode()
    organizations = []
    for station in fed.stations:
        key = None
        if fed.encrypted:
            key = fed.root.ok("GET", f"/organization/{station.org_id}")["public_key"]
        body = b"".join(blob_crypto.encode_chunks([data], key))
        answer = fed.researcher.post("/blobstream", content=body)
        assert answer.status_code == 201, answer.text
        organizations.append({"id": station.org_id, "input": answer.json()["uuid"]})
    return fed.researcher.ok(
        "POST",
        "/task",
        json={
            "name": "blob task",
            "image": image,
            "collaboration_id": fed.collaboration_id,
            "organizations": organizations,
            "databases": [],
        },
    )


# ------------------------------------------------------------------------------------------
# 200 MiB in, 1 GiB out
# ------------------------------------------------------------------------------------------
class RssWatch:
    """Peak resident memory of processes (by pid), sampled in the background."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.procs = {name: psutil.Process(pid) for name, pid in pids.items()}
        self.baseline = {name: p.memory_info().rss for name, p in self.procs.items()}
        self.peak = dict(self.baseline)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.is_set():
            for name, proc in self.procs.items():
                try:
                    self.peak[name] = max(self.peak[name], proc.memory_info().rss)
                except psutil.Error:
                    pass
            time.sleep(0.02)

    def growth(self) -> dict[str, int]:
        self._stop.set()
        self._thread.join()
        return {name: self.peak[name] - self.baseline[name] for name in self.procs}


@pytest.mark.timeout(1200)
def test_200_mib_input_and_1_gib_result_in_bounded_memory(fed, test_image, live_server, tmp_path):
    """Server, node and our client each grow by less than 100 MiB while 200 MiB go in
    (``task.create(input_file=...)``) and 1 GiB comes out (``result.download`` to a file,
    checked by hash); ``blob_client.py`` measures itself."""
    station = fed.stations[0]
    # a small blob task first: what a node needs for its first run (imports, forwarder,
    # connections) is not what a large blob costs
    warm = run_client(fed, test_image, pad_mib=1, result_mib=1, workdir=tmp_path)
    assert warm["status"] == "completed", (fed.runs(warm["task_id"]), fed.logs())
    watch = RssWatch({"server": live_server.process.pid, "node": station.process.pid})
    started = time.monotonic()
    report = run_client(fed, test_image, pad_mib=200, result_mib=1024, workdir=tmp_path)
    seconds = time.monotonic() - started
    growth = watch.growth()
    client = report["rss"]["peak"] - report["rss"]["baseline"]
    summary = {
        "mode": "encrypted" if fed.encrypted else "plain",
        "seconds": round(seconds, 1),
        "phases": {k: round(v, 1) for k, v in report["seconds"].items()},
        "growth_mib": {
            **{k: round(v / MIB, 1) for k, v in growth.items()},
            "client": round(client / MIB, 1),
        },
    }
    print(f"\nBLOB-BENCH {json.dumps(summary)}")
    assert report["status"] == "completed", fed.logs()
    (run,) = report["runs"]
    assert run["matches"] and run["bytes"] >= 1024 * MIB, run
    assert report["input_bytes"] >= 200 * MIB
    for name, grew in {**growth, "client": client}.items():
        assert grew < 100 * MIB, (name, summary)


@pytest.mark.timeout(1200)
def test_published_client_200_mib_input_in_bounded_memory(fed, test_image, live_server):
    """vantage6-client 4.14 uploads a 200 MiB input and reads a 64 MiB result (it gathers a
    result blob with ``bytes +=``, so 1 GiB is beyond it): server and node each grow by less
    than 100 MiB. The published client's own memory is reported, not bounded (not ours)."""
    station = fed.stations[0]
    warm = published_blob_task(fed, test_image, result_mib=1)  # the node's first-run costs
    assert warm["results"][0]["filler_bytes"] == MIB, warm
    watch = RssWatch({"server": live_server.process.pid, "node": station.process.pid})
    started = time.monotonic()
    report = published_blob_task(fed, test_image, result_mib=64, pad_mib=200)
    seconds = time.monotonic() - started
    growth = watch.growth()
    summary = {
        "mode": "encrypted" if fed.encrypted else "plain",
        "client": "vantage6-client 4.14",
        "seconds": round(seconds, 1),
        "growth_mib": {k: round(v / MIB, 1) for k, v in growth.items()},
        "published_client_growth_mib": round((report["client_growth"] or 0) / MIB, 1),
    }
    print(f"\nBLOB-BENCH {json.dumps(summary)}")
    (result,) = report["results"]
    assert result["blob_storage_used"] is True
    assert result["filler_bytes"] == 64 * MIB, result
    assert result["input_bytes"] >= 200 * MIB, result
    (run,) = fed.runs(report["task_id"])
    assert run["blob_storage_used"] is True
    assert str(uuid.UUID(run["input"])) == run["input"]  # uploaded as a blob
    for name, grew in growth.items():
        assert grew < 100 * MIB, (name, summary)
