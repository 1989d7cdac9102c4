"""Node round trip: create a task -> all results, for a trivial algorithm on 1, 3 and 10 nodes.

Run from the repository root with the project venv (needs podman and the images of
``python -m containers.images build``):

    .venv/bin/python benchmarks/node_roundtrip.py [--nodes 1 3 10] [--tasks 20]

A live server (SQLite) and N node processes run on this machine, every organization with its
own CSV file. A researcher, with our Python client, creates a task for all N organizations
with a trivial method (``ping``: returns a constant) and waits with ``wait_for_results`` until
every result is there (woken by the server's status events).

Per task, the round trip is split into

* *container*: from the node asking the engine to start the algorithm container until it saw
  the container exit (engine start, the algorithm process, exit), for the slowest run;
* *everything else*: the rest (server, events, node bookkeeping, token, proxy, delivery).

Node-side times come from the ``timings`` each node writes into its run state files.
Results: a table on stdout and ``benchmarks/results/node_roundtrip.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.api import Api  # noqa: E402
from tests.livestack import start_server  # noqa: E402
from tests.node.conftest import make_datasets  # noqa: E402
from tests.node.harness import PASSWORD, Federation, podman, podman_env  # noqa: E402
from vantage6_client import Client  # noqa: E402

TRIVIAL_IMAGE = "localhost/v6-bench-trivial:latest"
CONTAINERFILE = """\
FROM localhost/v6-demo:latest
COPY v6trivial/ /usr/local/lib/python3.11/dist-packages/v6trivial/
ENV PKG_NAME=v6trivial
"""
ALGORITHM = '''"""Trivial algorithm for the node round-trip benchmark."""


def ping(**kwargs):
    return "pong"
'''


def build_image() -> None:
    with tempfile.TemporaryDirectory() as ctx:
        root = Path(ctx)
        (root / "v6trivial").mkdir()
        (root / "v6trivial" / "__init__.py").write_text(ALGORITHM)
        (root / "Containerfile").write_text(CONTAINERFILE)
        podman("build", "--quiet", "-t", TRIVIAL_IMAGE, "-f", str(root / "Containerfile"), ctx)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    low = int(k)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


def run_states(fed: Federation, run_ids: set[int], timeout: float = 30) -> dict[int, dict]:
    """Timings the nodes recorded (state.json is rewritten once delivery is done)."""
    deadline = time.monotonic() + timeout
    found: dict[int, dict] = {}
    while time.monotonic() < deadline:
        for station in fed.stations:
            for run_id in run_ids - set(found):
                path = station.run_folder(run_id).state_file
                try:
                    state = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                if "delivered" in (state.get("timings") or {}):
                    found[run_id] = state
        if len(found) == len(run_ids):
            break
        time.sleep(0.05)
    return found


def measure(n_nodes: int, n_tasks: int, pause: float, workdir: Path) -> dict:
    server, cleanup = start_server("sqlite")
    fed = None
    try:
        root = Api.as_user(server.api_url, server.root_username, server.root_password)
        fed = Federation(
            server,
            root,
            workdir / f"n{n_nodes}",
            make_datasets(n_nodes),
            extra_config={"log_level": "INFO"},
        )
        fed.start()
        time.sleep(3.0)  # forwarder pools filled
        # one warm-up task (image caches, first connections)
        warm = fed.create_task({"method": "ping"}, image=TRIVIAL_IMAGE, databases=[])
        assert fed.wait_task(warm["id"]) == "completed", fed.logs()
        time.sleep(pause)

        # the researcher is our Python client: it creates the task and waits for the results
        # (woken by the server's events, fetching the results with the last status check)
        client = Client(server.api_url)
        client.authenticate(fed.researcher_username, PASSWORD)
        client.setup_encryption(None)
        org_ids = [station.org_id for station in fed.stations]
        samples = []
        for i in range(n_tasks):
            t0 = time.time()
            task = client.task.create(
                organizations=org_ids,
                name=f"bench {i}",
                image=TRIVIAL_IMAGE,
                input_={"method": "ping"},
                collaboration=fed.collaboration_id,
                databases=[],
            )
            t_posted = time.time()
            results = client.wait_for_results(task["id"], timeout=120)
            t_done = time.time()
            assert [r["result"] for r in results.data] == ["pong"] * n_nodes, (
                results.data,
                fed.logs(),
            )
            total = t_done - t0
            run_ids = {r["id"] for r in fed.runs(task["id"])}
            states = run_states(fed, run_ids)
            containers = []
            starts = []
            for state in states.values():
                tm = state["timings"]
                containers.append(tm["container_exited"] - tm["container_start"])
                starts.append(tm["container_started"] - tm["container_start"])
            container = max(containers) if containers else float("nan")
            # phases of the run that delivered last (the critical path)
            last = max(states.values(), key=lambda st: st["timings"]["delivered"])["timings"]
            marks = [("created", t0), ("posted", t_posted)]
            marks += sorted(last.items(), key=lambda kv: kv[1])
            marks.append(("seen", t_done))
            phases = {
                f"{a}->{b}": tb - ta for (a, ta), (b, tb) in zip(marks[:-1], marks[1:], strict=True)
            }
            samples.append(
                {
                    "total": total,
                    "container": container,
                    "engine_run_call": max(starts) if starts else float("nan"),
                    "else": total - container,
                    "phases": phases,
                }
            )
            print(
                f"  {n_nodes:>2} nodes  task {i + 1:>2}/{n_tasks}: total {total * 1000:5.0f} ms"
                f"  container {container * 1000:5.0f} ms  else {(total - container) * 1000:4.0f}"
                " ms  | " + " ".join(f"{k} {v * 1000:.0f}" for k, v in phases.items()),
                flush=True,
            )
            time.sleep(pause)
        client.close()
    finally:
        if fed is not None:
            fed.stop()
        cleanup()

    def summary(key: str) -> dict:
        values = [s[key] for s in samples]
        return {
            "p50_ms": round(statistics.median(values) * 1000, 1),
            "p95_ms": round(percentile(values, 0.95) * 1000, 1),
        }

    phase_names: list[str] = []
    for sample in samples:
        for name in sample["phases"]:
            if name not in phase_names:
                phase_names.append(name)
    phases = {
        name: round(
            statistics.median([s["phases"][name] for s in samples if name in s["phases"]]) * 1000,
            1,
        )
        for name in phase_names
    }
    return {
        "nodes": n_nodes,
        "tasks": n_tasks,
        "phases_p50_ms": phases,
        "total": summary("total"),
        "container": summary("container"),
        "engine_run_call": summary("engine_run_call"),
        "everything_else": summary("else"),
        "samples": samples,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[1, 3, 10])
    parser.add_argument("--tasks", type=int, default=20)
    parser.add_argument("--pause", type=float, default=1.5, help="seconds between tasks")
    args = parser.parse_args()
    os.environ.update({k: v for k, v in podman_env().items() if k == "CONTAINERS_CONF"})
    build_image()
    rows = []
    with tempfile.TemporaryDirectory(prefix="v6bench-") as tmp:
        for n in args.nodes:
            rows.append(measure(n, args.tasks, args.pause, Path(tmp)))
    print()
    print(
        f"{'nodes':>5} {'tasks':>5} | {'total p50':>9} {'p95':>7} | {'container p50':>13} "
        f"{'p95':>7} | {'else p50':>8} {'p95':>7} | {'engine run p50':>14}"
    )
    for r in rows:
        print(
            f"{r['nodes']:>5} {r['tasks']:>5} | {r['total']['p50_ms']:>9.0f} "
            f"{r['total']['p95_ms']:>7.0f} | {r['container']['p50_ms']:>13.0f} "
            f"{r['container']['p95_ms']:>7.0f} | {r['everything_else']['p50_ms']:>8.0f} "
            f"{r['everything_else']['p95_ms']:>7.0f} | {r['engine_run_call']['p50_ms']:>14.0f}"
        )
    print("\nphases of the slowest run (p50, ms):")
    for r in rows:
        print(
            f"  {r['nodes']:>2} nodes: "
            + ", ".join(f"{k} {v:.0f}" for k, v in r["phases_p50_ms"].items())
        )
    out = REPO / "benchmarks" / "results" / "node_roundtrip.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "when": dt.datetime.now(dt.UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "podman": subprocess.run(
                    ["podman", "--version"], capture_output=True, text=True, env=podman_env()
                ).stdout.strip(),
                "results": rows,
            },
            indent=1,
        )
    )
    print(f"\nwritten to {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
