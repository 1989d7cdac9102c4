"""Algorithm store benchmark: our store against vantage6-algorithm-store 4.14.

Run from the repository root with the project venv:

    .venv/bin/python benchmarks/store_api.py [--quick]

Both stores are started here on 127.0.0.1 with a fresh SQLite database each and
the ``algorithm_view: public`` policy, and seeded with the same approved
algorithms (``store_seed.py``, through the database). Then, alternating stores:

1. ``GET /api/version`` latency, sequential requests on one connection;
2. ``GET /api/algorithm?page=1&per_page=10`` (public list) latency;
3. ``GET /api/algorithm/{id}`` latency (ids cycled);
4. the same list's throughput at 16 and at 32 connections (wrk, or
   ``loadgen.py``).

Every measure also gives the store's CPU time per request (its whole process
group, from /proc), which depends less on other load on the machine. The
reference runs in its own Python 3.10 venv (``--store-venv``, completed when it
lacks the store or uwsgi) under uWSGI with the options ``v6 algorithm-store
start`` 4.14 gives its container (which, unlike the server's, lack
``--http-keepalive``; the sequential measures report how often a store closed the
connection as ``reconnects``).
Results: a table on stdout and ``benchmarks/results/store_api.json``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_http import KeepAliveClient  # noqa: E402
from bench_scenarios import Plan, Side, latency_phase, throughput_phase  # noqa: E402
from bench_servers import (  # noqa: E402
    DEFAULT_STORE_VENV,
    STORE_DIST,
    STORE_PACKAGES,
    OurStore,
    ReferenceStore,
    ensure_reference_venv,
    log,
    reference_version,
)
from server_api import machine_info, render_table, write_json  # noqa: E402
from store_seed import seed_algorithms  # noqa: E402

DEFAULT_OUTPUT = HERE / "results" / "store_api.json"
LIST_PATH = "/algorithm?page=1&per_page=10"
CONNECTIONS = (16, 32)


def make_plan(quick: bool) -> tuple[Plan, dict[str, int]]:
    """The shared plan (blocks, throughput rounds) and the sequential request counts."""
    if quick:
        plan = Plan(throughput_duration_s=5, throughput_rounds=2, throughput_warmup_s=2)
        plan.latency_blocks = 3
        return plan, {"version": 300, "list": 300, "get": 300, "warmup": 30}
    return Plan(), {"version": 1000, "list": 1000, "get": 1000, "warmup": 50}


def start_and_seed(side: Side, algorithms: int) -> None:
    """Start the store, seed it, and check it lists what was seeded."""
    store = side.server
    store.start()
    side.result["command"] = " ".join(store.command)
    seed_algorithms(store.database_path, algorithms)
    side.client = KeepAliveClient(store.host, store.port)
    _, page = side.client.request("GET", LIST_PATH)
    _, first = side.client.request("GET", "/algorithm/1")
    listed, functions = len(page["data"]), len(first["functions"])
    if listed != min(10, algorithms) or functions != 2:
        raise RuntimeError(f"seeded {algorithms}, listed {listed}, functions {functions}")
    side.result["seeded_algorithms"] = algorithms
    side.result["rss_mb_idle"] = store.rss_mb()


def run_all(sides: list[Side], plan: Plan, counts: dict[str, int], algorithms: int) -> None:
    """Start and seed every store, run the phases (alternating stores), stop them all."""
    started = time.monotonic()
    try:
        for side in sides:
            try:
                start_and_seed(side, algorithms)
            except Exception as exc:
                side.failed = True
                side.result["errors"] = [f"start: {type(exc).__name__}: {exc}"]
                side.result["log_tail"] = side.server.log_tail()
                log(f"{side.label} did not start: {exc}")
        for key, path, describe in (
            ("version", lambda i: "/version", "GET /api/version"),
            ("list", lambda i: LIST_PATH, "GET /api/algorithm (public list)"),
            ("get", lambda i: f"/algorithm/{i % algorithms + 1}", "GET /api/algorithm/{id}"),
        ):
            latency_phase(
                sides,
                plan,
                key,
                counts[key],
                counts["warmup"],
                lambda side, i, path=path: ("GET", path(abs(i)), None),
                describe,
            )
        for connections in CONNECTIONS:
            throughput_phase(
                sides,
                plan,
                f"list_throughput_{connections}",
                "/api" + LIST_PATH,
                connections,
                authenticated=False,
            )
        for side in sides:
            if not side.failed:
                side.result["rss_mb_end"] = side.server.rss_mb()
    finally:
        for side in sides:
            if side.client is not None:
                side.client.close()
            side.server.stop()
    for side in sides:
        side.result["wall_s_all_stores"] = round(time.monotonic() - started, 1)


# --------------------------------------------------------------------------- reporting


def build_comparison(ours: dict, ref: dict) -> list[dict]:
    """Rows for ``render_table``; gain > 1 means ours is better (no target is set)."""
    rows: list[dict] = []

    def add(metric: str, unit: str, key: str, field: str, higher_better: bool) -> None:
        a, b = (side.get(key, {}).get(field) for side in (ours, ref))
        gain = None
        if a and b and a > 0 and b > 0:
            gain = round(a / b if higher_better else b / a, 2)
        rows.append(
            {
                "metric": metric,
                "unit": unit,
                "ours": a,
                "reference": b,
                "gain": gain,
                "target_gain": None,
                "met": None,
            }
        )

    for key, name in (
        ("version", "GET /api/version"),
        ("list", "GET /api/algorithm (10 of N)"),
        ("get", "GET /api/algorithm/{id}"),
    ):
        add(f"{name} p50", "ms", key, "p50_ms", False)
        add(f"{name} p95", "ms", key, "p95_ms", False)
        add(f"{name} server CPU per request", "ms", key, "server_cpu_ms_per_request", False)
    for connections in CONNECTIONS:
        key = f"list_throughput_{connections}"
        name = f"GET /api/algorithm, {connections} conns"
        add(f"{name} throughput", "req/s", key, "rps", True)
        add(f"{name} server CPU per request", "ms", key, "server_cpu_ms_per_request", False)
        add(f"{name} p50 under that load", "ms", key, "p50_ms", False)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark our algorithm store against vantage6-algorithm-store 4.14."
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer samples")
    parser.add_argument("--algorithms", type=int, default=50, help="approved algorithms seeded")
    parser.add_argument("--duration", type=int, help="throughput duration per round (s)")
    parser.add_argument("--rounds", type=int, help="throughput rounds per store")
    parser.add_argument("--warmup", type=int, help="throughput warm-up before the first round (s)")
    parser.add_argument("--requests", type=int, help="sequential requests per latency measure")
    parser.add_argument(
        "--store-venv",
        type=Path,
        default=Path(os.environ.get("V6STORE_VENV", DEFAULT_STORE_VENV)),
        help="venv for vantage6-algorithm-store 4.14 + uwsgi (default: %(default)s)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep databases, configs and store logs"
    )
    args = parser.parse_args(argv)
    if args.algorithms < 1:
        parser.error("--algorithms must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="v6-storebench-"))
    log(f"work dir: {workdir}")
    plan, counts = make_plan(args.quick)
    if args.duration:
        plan.throughput_duration_s = args.duration
    if args.rounds:
        plan.throughput_rounds = args.rounds
    if args.warmup is not None:
        plan.throughput_warmup_s = args.warmup
    if args.requests:
        counts.update(version=args.requests, list=args.requests, get=args.requests)
    payload: dict = {
        "benchmark": "store_api",
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python", "benchmarks/store_api.py", *sys.argv[1:]]),
        "meta": machine_info(),
        "plan": {
            "algorithms": args.algorithms,
            "requests": counts,
            "latency_blocks": plan.latency_blocks,
            "throughput_connections": list(CONNECTIONS),
            "throughput_duration_s": plan.throughput_duration_s,
            "throughput_rounds": plan.throughput_rounds,
            "throughput_warmup_s": plan.throughput_warmup_s,
        },
        "stores": {},
    }
    sides = [Side("ours", OurStore(workdir / "ours"))]
    failed = False
    try:
        venv = ensure_reference_venv(
            args.store_venv.expanduser(), workdir, STORE_DIST, STORE_PACKAGES
        )
        payload["meta"]["reference_version"] = reference_version(venv, STORE_DIST)
        sides.append(Side("reference", ReferenceStore(workdir / "reference", venv)))
    except Exception as exc:  # keep going with our store alone
        failed = True
        log(f"reference store unavailable: {exc}")
        payload["stores"]["reference"] = {"errors": [f"setup: {exc}"]}

    try:
        run_all(sides, plan, counts, args.algorithms)
    finally:
        for side in sides:
            payload["stores"][side.name] = side.result
            failed = failed or bool(side.result.get("errors"))
        payload["meta"]["loadavg_end"] = list(os.getloadavg())
        write_json(args.output, payload)

    rows = build_comparison(payload["stores"].get("ours", {}), payload["stores"]["reference"])
    payload["comparison"] = rows
    write_json(args.output, payload)
    print()
    print(render_table(rows))
    for name, side in payload["stores"].items():
        for err in side.get("errors", []):
            print(f"{name} FAILED: {err}")
    print(f"results: {args.output}")
    if args.keep_workdir or failed:
        log(f"work dir kept: {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
