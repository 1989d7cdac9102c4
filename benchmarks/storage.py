"""Large results: the database path against each blob store, and vantage6 4.14's database path.

Run from the repository root with the project venv:

    .venv/bin/python benchmarks/storage.py [--quick] [--sizes 10,100,1024]

For each result size (MiB of result bytes) a node sends the result to the server and a user
fetches it back, on these paths, one server at a time on 127.0.0.1:

* ``database``: our server without a blob store; the result travels base64-encoded inside
  ``PATCH /api/run/<id>`` and comes back in ``GET /api/result/<id>`` (the vantage6 4.x way).
  The server refuses bodies over ``max_body_bytes`` (32 MiB): larger sizes are "refused".
* ``filesystem``, ``s3`` (a moto server), ``azure`` (Azurite): our server with that
  ``large_result_store``; the node streams the result to ``POST /api/blobstream``, reports its
  uuid with ``PATCH /api/run/<id>``, and the user streams ``GET /api/blobstream/<uuid>``.
* ``v6 4.14 database``: vantage6-server 4.14 under uWSGI (as ``benchmarks/server_api.py``
  starts it) on its database path, for the sizes it carries.

Each upload and each download runs in its own client subprocess (``--worker``), which reports
its wall time and peak RSS; the server's whole process group RSS is sampled every 50 ms during
the transfer. Database-path clients build and parse the JSON in memory, as vantage6 clients
do; blob clients stream from and to a file. Results: a markdown table on stdout and
``benchmarks/results/storage.json``.
"""

from __future__ import annotations

import argparse
import base64
import datetime as dt
import http.client
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_http import KeepAliveClient  # noqa: E402
from bench_scenarios import login_root  # noqa: E402
from bench_servers import (  # noqa: E402
    DEFAULT_REF_VENV,
    REPO_ROOT,
    ManagedServer,
    OurServer,
    ReferenceServer,
    ensure_reference_venv,
    log,
    reference_version,
)

MIB = 1024 * 1024
CHUNK = MIB
DEFAULT_OUTPUT = HERE / "results" / "storage.json"
BACKENDS = ("filesystem", "s3", "azure")
REFERENCE = "v6 4.14 database"


# --------------------------------------------------------------------------- payload


def payload_chunks(size: int, seed: int = 11) -> Iterator[bytes]:
    """``size`` pseudo-random bytes in 1 MiB chunks (one random MiB, shifted per chunk)."""
    block = _block(seed)
    sent = 0
    index = 0
    while sent < size:
        rot = (index * 4099) % CHUNK
        chunk = (block[rot:] + block[:rot])[: size - sent]
        yield chunk
        sent += len(chunk)
        index += 1


def _block(seed: int) -> bytes:
    import random

    return random.Random(seed).randbytes(CHUNK)


# --------------------------------------------------------------------------- client worker


def _connection(url: str) -> http.client.HTTPConnection:
    host, _, port = url.removeprefix("http://").partition(":")
    return http.client.HTTPConnection(host, int(port), timeout=3600)


def _send(
    url: str, method: str, path: str, token: str, body: Any, headers: dict[str, str]
) -> tuple[int, http.client.HTTPResponse, http.client.HTTPConnection]:
    conn = _connection(url)
    try:
        conn.request(
            method, path, body=body, headers={"Authorization": f"Bearer {token}", **headers}
        )
    except (BrokenPipeError, ConnectionResetError):
        pass  # the server answered (e.g. 413) and closed before the body was sent
    resp = conn.getresponse()
    return resp.status, resp, conn


def worker(job: dict) -> dict:
    """One transfer, in this process (its peak RSS is the client's)."""
    url, token, size = job["url"], job["token"], job["size"]
    rss_before = _status_kib("self", "VmRSS") / 1024
    started = time.perf_counter()
    out: dict[str, Any] = {}
    if job["op"] == "db_upload":
        text = base64.b64encode(b"".join(payload_chunks(size))).decode()
        body = json.dumps({"result": text}).encode()
        del text
        status, resp, conn = _send(
            url, "PATCH", f"/api/run/{job['run']}", token, body, _json_headers(len(body))
        )
        out["detail"] = resp.read()[:300].decode(errors="replace") if status >= 300 else ""
    elif job["op"] == "db_download":
        status, resp, conn = _send(url, "GET", f"/api/result/{job['run']}", token, None, {})
        data = resp.read()
        if status == 200:
            result = base64.b64decode(json.loads(data)["result"])
            out["bytes"] = len(result)
            del result
        else:
            out["detail"] = data[:300].decode(errors="replace")
    elif job["op"] == "blob_upload":
        headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
        status, resp, conn = _send(
            url, "POST", "/api/blobstream", token, payload_chunks(size), headers
        )
        data = resp.read()
        if status in (200, 201):
            out["uuid"] = json.loads(data)["uuid"]
        else:
            out["detail"] = data[:300].decode(errors="replace")
    elif job["op"] == "blob_download":
        status, resp, conn = _send(url, "GET", f"/api/blobstream/{job['uuid']}", token, None, {})
        received = 0
        with open(os.devnull, "wb") as sink:
            while chunk := resp.read(CHUNK):
                received += len(chunk)
                sink.write(chunk)
        out["bytes"] = received
    else:
        raise ValueError(f"unknown op {job['op']!r}")
    conn.close()
    out["status"] = status
    out["seconds"] = time.perf_counter() - started
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss over fork and exec from the parent
    out["client_peak_rss_mib"] = round(_status_kib("self", "VmHWM") / 1024, 1)
    out["client_rss_growth_mib"] = round(out["client_peak_rss_mib"] - rss_before, 1)
    return out


def _json_headers(length: int) -> dict[str, str]:
    return {"Content-Type": "application/json", "Content-Length": str(length)}


# --------------------------------------------------------------------------- measuring


def _status_kib(pid: int | str, key: str) -> int:
    """A ``/proc/<pid>/status`` memory field (``VmRSS``, ``VmHWM``) in KiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        pass
    return 0


class RssSampler:
    """Peak RSS of a server's process group while a transfer runs (sampled every 50 ms).

    The group's processes are listed once, at the start (a scan of ``/proc`` per sample would
    compete with the transfer for the CPU).
    """

    def __init__(self, server: ManagedServer) -> None:
        self.pids = server._group_pids()
        self.baseline = self._total_mib()
        self.peak = self.baseline
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _total_mib(self) -> float:
        return sum(_status_kib(pid, "VmRSS") for pid in self.pids) / 1024

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self._total_mib())

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._total_mib())


def run_worker(job: dict, server: ManagedServer, timeout: float) -> dict:
    """Run one transfer in a client subprocess while sampling the server's memory."""
    with RssSampler(server) as rss:
        proc = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(job)],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if proc.returncode != 0:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:]
        raise RuntimeError(f"client failed: {' '.join(tail)[:300]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["server_peak_rss_mib"] = round(rss.peak, 1)
    result["server_rss_growth_mib"] = round(rss.peak - rss.baseline, 1)
    return result


@dataclass
class Federation:
    """One organization, collaboration and node on a server; tasks with one run each."""

    server: ManagedServer
    root: KeepAliveClient
    org: int = 0
    collab: int = 0
    node_token: str = ""
    root_token: str = ""
    blob_input: bool = False
    tasks: list[int] = field(default_factory=list)

    @classmethod
    def create(cls, server: ManagedServer) -> Federation:
        root = login_root(server)
        fed = cls(server, root, root_token=str(root.token))
        stamp = secrets.token_hex(3)
        _, org = root.request("POST", "/organization", {"name": f"bench-org-{stamp}"})
        fed.org = org["id"]
        # root's own organization takes part too: users create tasks in their collaborations
        _, orgs = root.request("GET", "/organization?per_page=100")
        members = sorted({o["id"] for o in orgs["data"]} | {fed.org})
        _, collab = root.request(
            "POST",
            "/collaboration",
            {"name": f"bench-{stamp}", "organization_ids": members, "encrypted": False},
        )
        fed.collab = collab["id"]
        _, node = root.request(
            "POST",
            "/node",
            {"collaboration_id": fed.collab, "organization_id": fed.org, "name": f"n-{stamp}"},
        )
        _, token = root.request("POST", "/token/node", {"api_key": node["api_key"]}, auth=False)
        fed.node_token = token["access_token"]
        return fed

    def new_run(self) -> int:
        """A new task for the node's organization; the id of its run."""
        task_input = base64.b64encode(b'{"method": "bench"}').decode()
        _, task = self.root.request(
            "POST",
            "/task",
            {
                "name": f"bench-{len(self.tasks)}",
                "image": "localhost/bench:latest",
                "collaboration_id": self.collab,
                "organizations": [{"id": self.org, "input": task_input}],
                "databases": [],
            },
        )
        self.tasks.append(task["id"])
        node = KeepAliveClient(self.server.host, self.server.port, token=self.node_token)
        try:
            _, runs = node.request("GET", f"/run?task_id={task['id']}")
        finally:
            node.close()
        return runs["data"][0]["id"]

    def report_result(self, run: int, result: str) -> None:
        node = KeepAliveClient(self.server.host, self.server.port, token=self.node_token)
        try:
            node.request("PATCH", f"/run/{run}", {"result": result})
        finally:
            node.close()


def _throughput(size: int, seconds: float | None) -> float | None:
    return round(size / MIB / seconds, 1) if seconds else None


def measure_database(fed: Federation, size: int, timeout: float) -> dict:
    """Result inline in ``PATCH /run`` (base64), fetched with ``GET /result``."""
    run = fed.new_run()
    base = {"url": fed.server.base_url, "size": size, "run": run}
    up = run_worker({**base, "op": "db_upload", "token": fed.node_token}, fed.server, timeout)
    row: dict[str, Any] = {"upload": up}
    if up["status"] == 413:
        row["refused"] = f"413 {up.get('detail', '')[:120]}"
        return row
    if up["status"] >= 500:
        # the server took the body and could not store it: it cannot carry this size
        row["cannot_carry"] = (
            f"{up['status']} after {up['seconds']:.0f} s, "
            f"server +{up['server_rss_growth_mib']:.0f} MiB"
        )
        return row
    if up["status"] >= 300:
        row["failed"] = f"upload {up['status']}: {up.get('detail', '')[:160]}"
        return row
    down = run_worker({**base, "op": "db_download", "token": fed.root_token}, fed.server, timeout)
    row["download"] = down
    if down["status"] != 200 or down.get("bytes") != size:
        row["failed"] = f"download {down['status']} ({down.get('bytes')} bytes)"
    return row


def measure_blob(fed: Federation, size: int, timeout: float) -> dict:
    """Result streamed to ``POST /blobstream``, its uuid reported, streamed back."""
    run = fed.new_run()
    base = {"url": fed.server.base_url, "size": size}
    up = run_worker({**base, "op": "blob_upload", "token": fed.node_token}, fed.server, timeout)
    row: dict[str, Any] = {"upload": up}
    if up["status"] not in (200, 201):
        row["failed"] = f"upload {up['status']}: {up.get('detail', '')[:160]}"
        return row
    fed.report_result(run, up["uuid"])
    job = {**base, "op": "blob_download", "token": fed.root_token, "uuid": up["uuid"]}
    down = run_worker(job, fed.server, timeout)
    row["download"] = down
    if down["status"] != 200 or down.get("bytes") != size:
        row["failed"] = f"download {down['status']} ({down.get('bytes')} bytes)"
    return row


# --------------------------------------------------------------------------- the paths


@dataclass
class Path_:
    """One way to carry results: a server (started on demand) and how a result travels."""

    name: str
    make_server: Callable[[], ManagedServer]
    measure: Callable[[Federation, int, float], dict]
    max_size: int | None = None  # larger sizes are not tried (reported as "not tried")
    cleanup: list[Callable[[], None]] = field(default_factory=list)


def our_server(workdir: Path, store: dict | None) -> OurServer:
    config = workdir / "server.yaml"
    workdir.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"large_result_store": store} if store else {}))
    return OurServer(workdir, extra_args=["--config", str(config)])


def store_section(name: str, workdir: Path, endpoints: dict[str, Any]) -> dict:
    """A ``large_result_store`` section; starts moto or Azurite on first use."""
    sys.path.insert(0, str(REPO_ROOT))
    from tests.storage.conftest import azure_section, s3_section
    from tests.storage.endpoints import start_azurite, start_moto

    if name == "filesystem":
        return {"type": "filesystem", "path": str(workdir / "blobs")}
    if name == "s3":
        if "s3" not in endpoints:
            endpoints["s3"] = start_moto(workdir)
        return s3_section(endpoints["s3"])
    if "azure" not in endpoints:
        endpoints["azure"] = start_azurite(workdir)
    return azure_section(endpoints["azure"])


def start_path(path: Path_) -> tuple[ManagedServer | None, str | None]:
    """Start the path's server; ``(server, None)`` or ``(None, why not)``."""
    server = None
    try:
        server = path.make_server()
        server.start()
        return server, None
    except Exception as exc:
        log(f"{path.name}: {exc}")
        if server is not None:
            server.stop()
        return None, f"{type(exc).__name__}: {str(exc)[:200]}"


def measure_path(
    path: Path_, server: ManagedServer, sizes: list[int], timeout: float
) -> dict[int, dict]:
    """Every size on one (started) server, one transfer at a time."""
    rows: dict[int, dict] = {}
    try:
        idle = server.rss_mb()
        fed = Federation.create(server)
        for size in sizes:
            if path.max_size is not None and size > path.max_size:
                rows[size] = {"not_tried": "larger than --ref-max-mib"}
                continue
            log(f"{path.name}: {size // MIB} MiB")
            try:
                rows[size] = path.measure(fed, size, timeout)
            except Exception as exc:  # keep going: one size failing says something too
                rows[size] = {"failed": f"{type(exc).__name__}: {str(exc)[:200]}"}
            rows[size]["server_idle_rss_mib"] = idle
            log(f"{path.name}: {size // MIB} MiB -> {summary(rows[size])}")
        fed.root.close()
    except Exception as exc:
        log(f"{path.name}: {exc}")
        for size in sizes:
            rows.setdefault(size, {"failed": f"setup: {type(exc).__name__}: {str(exc)[:200]}"})
    return rows


def run_paths(paths: list[Path_], sizes: list[int], timeout: float) -> dict[str, dict[int, dict]]:
    """Start every server at once (start-up dominates a quick run), then measure one by one
    while the others sit idle, then stop them all."""
    started: dict[str, tuple[ManagedServer | None, str | None]] = {}

    def start(path: Path_) -> None:
        started[path.name] = start_path(path)

    threads = [threading.Thread(target=start, args=(p,)) for p in paths]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    results: dict[str, dict[int, dict]] = {}
    try:
        for path in paths:
            server, problem = started[path.name]
            if server is None:
                results[path.name] = {size: {"failed": f"start: {problem}"} for size in sizes}
                continue
            results[path.name] = measure_path(path, server, sizes, timeout)
    finally:
        for server, _ in started.values():
            if server is not None:
                server.stop()
    return results


def summary(row: dict) -> str:
    for key in ("refused", "cannot_carry", "failed", "not_tried"):
        if key in row:
            return f"{key.replace('_', ' ')}: {row[key]}"
    up, down = row["upload"], row["download"]
    size = down["bytes"]
    return (
        f"up {_throughput(size, up['seconds'])} MiB/s, down "
        f"{_throughput(size, down['seconds'])} MiB/s, server peak "
        f"{max(up['server_peak_rss_mib'], down['server_peak_rss_mib'])} MiB"
    )


# --------------------------------------------------------------------------- reporting


def _cell(row: dict, size: int) -> dict[str, Any]:
    if "refused" in row:
        return {"state": "refused"}
    if "cannot_carry" in row:
        return {"state": f"cannot carry ({row['cannot_carry']})"}
    if "not_tried" in row:
        return {"state": "not tried"}
    if "failed" in row:
        return {"state": "failed: " + row["failed"][:60]}
    up, down = row["upload"], row["download"]
    return {
        "state": "ok",
        "up": _throughput(size, up["seconds"]),
        "down": _throughput(size, down["seconds"]),
        "server": max(up["server_peak_rss_mib"], down["server_peak_rss_mib"]),
        "growth": max(up["server_rss_growth_mib"], down["server_rss_growth_mib"]),
        "client": max(up["client_peak_rss_mib"], down["client_peak_rss_mib"]),
        "client_growth": max(up["client_rss_growth_mib"], down["client_rss_growth_mib"]),
    }


def render_table(results: dict[str, dict[int, dict]], sizes: list[int]) -> str:
    """Markdown: one row per (size, path); ratios against vantage6 4.14 at the same size."""
    header = (
        "| result | path | upload MiB/s | download MiB/s | server peak RSS MiB (growth) "
        "| client peak RSS MiB (growth) | round trip vs 4.14 | server peak vs 4.14 |"
    )
    lines = [header, "|" + "---|" * 8]
    for size in sizes:
        ref = _cell(results.get(REFERENCE, {}).get(size, {"not_tried": ""}), size)
        for name, rows in results.items():
            cell = _cell(rows.get(size, {"not_tried": ""}), size)
            label = f"{size // MIB} MiB" if size >= MIB else f"{size} B"
            if cell["state"] != "ok":
                lines.append(f"| {label} | {name} | {cell['state']} | | | | | |")
                continue
            speed = ratio = "n/a"
            if ref["state"] == "ok":
                ours_s = 1 / cell["up"] + 1 / cell["down"]
                ref_s = 1 / ref["up"] + 1 / ref["down"]
                speed = f"{ref_s / ours_s:.2f}x"
                ratio = f"{cell['server'] / ref['server']:.2f}x"
            lines.append(
                f"| {label} | {name} | {cell['up']} | {cell['down']} | "
                f"{cell['server']} ({cell['growth']:+}) | "
                f"{cell['client']} ({cell['client_growth']:+}) | {speed} | {ratio} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 MiB only (a smoke run)")
    parser.add_argument("--sizes", default="10,100,1024", help="result sizes in MiB")
    parser.add_argument(
        "--paths",
        default=",".join(["database", *BACKENDS, "reference"]),
        help="which paths to run (database, filesystem, s3, azure, reference)",
    )
    parser.add_argument(
        "--ref-venv",
        type=Path,
        default=Path(os.environ.get("V6_PUBLISHED_SERVER_VENV", DEFAULT_REF_VENV)),
        help="venv of vantage6-server 4.14 + uwsgi (default: %(default)s)",
    )
    parser.add_argument(
        "--ref-max-mib", type=int, default=None, help="largest size tried on vantage6 4.14"
    )
    parser.add_argument("--timeout", type=float, default=900, help="per transfer (s)")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0

    sizes = [10 * MIB] if args.quick else [int(s) * MIB for s in args.sizes.split(",")]
    wanted = [p.strip() for p in args.paths.split(",") if p.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="v6-bench-storage-"))
    log(f"work dir: {workdir}")
    endpoints: dict[str, Any] = {}
    paths: list[Path_] = []
    if "database" in wanted:
        paths.append(Path_("database", lambda: our_server(workdir / "db", None), measure_database))
    for name in BACKENDS:
        if name in wanted:

            def make(name: str = name) -> OurServer:
                folder = workdir / name
                folder.mkdir(exist_ok=True)
                return our_server(folder, store_section(name, folder, endpoints))

            paths.append(Path_(name, make, measure_blob))
    meta: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
        ).stdout.strip(),
        "cpus": os.cpu_count(),
        "loadavg_start": list(os.getloadavg()),
    }
    if "reference" in wanted:
        try:
            venv = ensure_reference_venv(args.ref_venv.expanduser(), workdir)
            meta["reference_version"] = reference_version(venv)
            ref_max = args.ref_max_mib * MIB if args.ref_max_mib else None
            paths.append(
                Path_(
                    REFERENCE,
                    lambda: ReferenceServer(workdir / "reference", venv),
                    measure_database,
                    ref_max,
                )
            )
        except Exception as exc:
            log(f"vantage6 4.14 unavailable: {exc}")
            meta["reference_error"] = str(exc)
    try:
        results = run_paths(paths, sizes, args.timeout)
    finally:
        for endpoint in endpoints.values():
            endpoint.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    meta["loadavg_end"] = list(os.getloadavg())
    command = " ".join(["python", "benchmarks/storage.py", *(argv or sys.argv[1:])])
    table = render_table(results, sizes)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "benchmark": "storage",
        "command": command,
        "meta": meta,
        "results": {
            name: {str(s // MIB): row for s, row in rows.items()} for name, rows in results.items()
        },
        "table": table,
    }
    args.output.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\n{command}\n\n{table}\n")
    failed = any("failed" in row for rows in results.values() for row in rows.values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
