"""Server API benchmark: our server against the vantage6 4.14 reference server.

Run from the repository root with the project venv:

    .venv/bin/python benchmarks/server_api.py [--quick]

Both servers are started here, one after the other, on 127.0.0.1 with a fresh
SQLite database each, and driven through the same vantage6 4.x REST calls:

1. ``GET /api/version`` throughput (wrk, or a Python load generator, as a
   separate process; fixed number of kept-alive connections);
2. ``POST /api/organization`` latency, authenticated as root, sequential
   requests on one kept-alive connection;
3. ``GET /api/organization`` latency (same connection);
4. authenticated ``GET /api/organization`` throughput (32 connections);
5. ``POST /api/token/node`` latency with 1, 100 and 1000 nodes registered
   (collaborations and nodes created through the API).

Every throughput and latency measure also gives the server's CPU time per
request (its whole process group), which depends less on other load.

The reference runs in its own Python 3.10 venv (created when missing, see
``--ref-venv``) under uWSGI with the options of its official Docker image.
Results: a table on stdout and ``benchmarks/results/server_api.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

from bench_http import wrk_path  # noqa: E402
from bench_scenarios import (  # noqa: E402
    Plan,
    Side,
    login_root,
    make_plan,
    phase_list_throughput,
    phase_node_login,
    phase_org_create,
    phase_org_list,
    phase_throughput,
)
from bench_servers import (  # noqa: E402
    DEFAULT_REF_VENV,
    REPO_ROOT,
    OurServer,
    ReferenceServer,
    ensure_reference_venv,
    log,
    reference_version,
)

DEFAULT_OUTPUT = HERE / "results" / "server_api.json"
TARGET_GAIN = 5.0
# "flat": p50 login time with the most nodes at most this multiple of the one-node time
FLAT_FACTOR = 1.5


# --------------------------------------------------------------------------- running


def run_all(sides: list[Side], plan: Plan) -> None:
    """Start every server, run the phases (alternating servers), stop them all."""
    started = time.monotonic()
    try:
        for side in sides:
            try:
                side.server.start()
                side.result["command"] = " ".join(side.server.command)
                side.result["rss_mb_idle"] = side.server.rss_mb()
                side.client = login_root(side.server)
            except Exception as exc:
                side.failed = True
                side.result["errors"] = [f"start: {type(exc).__name__}: {exc}"]
                side.result["log_tail"] = side.server.log_tail()
                log(f"{side.label} did not start: {exc}")
        phase_throughput(sides, plan)
        phase_org_create(sides, plan)
        phase_org_list(sides, plan)
        phase_list_throughput(sides, plan)
        phase_node_login(sides, plan)
        for side in sides:
            if not side.failed:
                side.result["rss_mb_end"] = side.server.rss_mb()
    finally:
        for side in sides:
            if side.client is not None:
                side.client.close()
            side.server.stop()
    wall = round(time.monotonic() - started, 1)
    for side in sides:
        side.result["wall_s_all_servers"] = wall


# --------------------------------------------------------------------------- reporting


def _get(d: dict | None, *keys):
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def build_comparison(ours: dict | None, ref: dict | None) -> list[dict]:
    """Rows of (metric, ours, reference, gain, target). Gain > 1 means ours is better."""
    rows: list[dict] = []

    def add(metric, unit, a, b, higher_better, target=TARGET_GAIN):
        gain = None
        if a is not None and b is not None and a > 0 and b > 0:
            gain = a / b if higher_better else b / a
        met = None if gain is None or target is None else gain >= target
        rows.append(
            {
                "metric": metric,
                "unit": unit,
                "ours": a,
                "reference": b,
                "gain": round(gain, 2) if gain is not None else None,
                "target_gain": target,
                "met": met,
            }
        )

    for key, name, conns_default in (
        ("version_throughput", "GET /api/version", "throughput_connections"),
        (
            "org_list_throughput",
            "GET /api/organization (authenticated)",
            "list_throughput_connections",
        ),
    ):
        conns = (
            _get(ours, key, "connections")
            or _get(ref, key, "connections")
            or _get(ours, "plan", conns_default)
            or _get(ref, "plan", conns_default)
        )
        add(
            f"{name} throughput ({conns} conns)",
            "req/s",
            _get(ours, key, "rps"),
            _get(ref, key, "rps"),
            True,
        )
        add(
            f"{name} server CPU per request",
            "ms",
            _get(ours, key, "server_cpu_ms_per_request"),
            _get(ref, key, "server_cpu_ms_per_request"),
            False,
        )
        add(
            f"{name} p50 under that load",
            "ms",
            _get(ours, key, "p50_ms"),
            _get(ref, key, "p50_ms"),
            False,
            None,
        )
    for key, name in (
        ("org_list", "GET /api/organization"),
        ("org_create", "POST /api/organization"),
    ):
        for pct in ("p50", "p95"):
            add(
                f"{name} {pct}",
                "ms",
                _get(ours, key, f"{pct}_ms"),
                _get(ref, key, f"{pct}_ms"),
                False,
                TARGET_GAIN if pct == "p50" else None,
            )
        add(
            f"{name} server CPU per request",
            "ms",
            _get(ours, key, "server_cpu_ms_per_request"),
            _get(ref, key, "server_cpu_ms_per_request"),
            False,
        )
    counts = sorted({int(c) for side in (ours, ref) for c in (_get(side, "node_login") or {})})
    for count in counts:
        add(
            f"POST /api/token/node p50, {count} node{'s' if count > 1 else ''}",
            "ms",
            _get(ours, "node_login", str(count), "p50_ms"),
            _get(ref, "node_login", str(count), "p50_ms"),
            False,
        )
    add(
        "POST /api/node (register) p50",
        "ms",
        _get(ours, "node_register", "p50_ms"),
        _get(ref, "node_register", "p50_ms"),
        False,
        None,
    )
    add(
        "RSS after run (all processes)",
        "MiB",
        _get(ours, "rss_mb_end"),
        _get(ref, "rss_mb_end"),
        False,
        None,
    )
    return rows


def flatness(side: dict | None) -> dict | None:
    logins = _get(side, "node_login") or {}
    if len(logins) < 2:
        return None
    counts = sorted(int(c) for c in logins)
    lo, hi = logins[str(counts[0])], logins[str(counts[-1])]
    if not lo.get("p50_ms") or not hi.get("p50_ms"):
        return None
    factor = hi["p50_ms"] / lo["p50_ms"]
    return {
        "from_nodes": counts[0],
        "to_nodes": counts[-1],
        "p50_growth": round(factor, 2),
        "flat": factor <= FLAT_FACTOR,
        "flat_means_growth_at_most": FLAT_FACTOR,
    }


def _fmt(value, unit: str) -> str:
    if value is None:
        return "n/a"
    if unit == "req/s":
        return f"{value:,.0f}"
    if value >= 1000:
        return f"{value:,.0f}"
    if value >= 100:
        return f"{value:.1f}"
    return f"{value:.2f}"


def render_table(rows: list[dict]) -> str:
    header = ("metric", "unit", "ours", "vantage6 4.14", "gain", "target")
    lines = []
    for row in rows:
        gain = f"{row['gain']:.1f}x" if row["gain"] is not None else "n/a"
        if row["target_gain"] is None:
            target = ""
        elif row["met"] is None:
            target = f">={row['target_gain']:.0f}x ?"
        else:
            target = f">={row['target_gain']:.0f}x {'yes' if row['met'] else 'NO'}"
        lines.append(
            (
                row["metric"],
                row["unit"],
                _fmt(row["ours"], row["unit"]),
                _fmt(row["reference"], row["unit"]),
                gain,
                target,
            )
        )
    widths = [max(len(str(x)) for x in col) for col in zip(header, *lines, strict=False)]
    out = []
    for i, line in enumerate([header, *lines]):
        cells = [
            str(c).ljust(w) if j < 2 else str(c).rjust(w)
            for j, (c, w) in enumerate(zip(line, widths, strict=False))
        ]
        out.append("| " + " | ".join(cells) + " |")
        if i == 0:
            out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(out)


def machine_info() -> dict:
    cpu = None
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    commit = subprocess.run(
        ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    wrk = wrk_path()
    wrk_version = None
    if wrk:
        probe = subprocess.run([wrk, "--version"], capture_output=True, text=True)
        wrk_version = (probe.stdout or probe.stderr).splitlines()[0] if probe else None
    return {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git_commit": commit or None,
        "cpus": os.cpu_count(),
        "cpu_model": cpu,
        "platform": platform.platform(),
        "python_ours": platform.python_version(),
        "load_generator": wrk_version or "python asyncio fallback (benchmarks/loadgen.py)",
        "loadavg_start": list(os.getloadavg()),
    }


def write_json(path: Path, payload: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(payload, indent=2) + "\n")
    tmp.replace(path)


# --------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark our server against vantage6-server 4.14 (both started here)."
    )
    parser.add_argument("--quick", action="store_true", help="shorter runs, fewer samples")
    parser.add_argument(
        "--only", choices=("both", "ours", "reference"), default="both", help="servers to run"
    )
    parser.add_argument(
        "--ref-venv",
        type=Path,
        default=Path(os.environ.get("V6REF_VENV", DEFAULT_REF_VENV)),
        help="venv for vantage6-server 4.14 + uwsgi; created when missing (default: %(default)s)",
    )
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT, help="JSON results file")
    parser.add_argument("--connections", type=int, help="load-generator connections")
    parser.add_argument("--duration", type=int, help="throughput duration (s)")
    parser.add_argument(
        "--keep-workdir", action="store_true", help="keep databases, configs and server logs"
    )
    parser.add_argument(
        "--ours-arg",
        action="append",
        default=[],
        help="extra argument for our server's command line (repeatable)",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="v6-bench-"))
    log(f"work dir: {workdir}")
    payload: dict = {
        "benchmark": "server_api",
        "mode": "quick" if args.quick else "full",
        "command": " ".join(["python", "benchmarks/server_api.py", *sys.argv[1:]]),
        "meta": machine_info(),
        "servers": {},
    }
    plan = make_plan(args.quick)
    if args.connections:
        plan.throughput_connections = args.connections
    if args.duration:
        plan.throughput_duration_s = args.duration
    payload["plan"] = {
        **plan.__dict__,
        "node_counts": list(plan.node_counts),
    }
    failed = False
    sides: list[Side] = []
    if args.only in ("both", "ours"):
        sides.append(Side("ours", OurServer(workdir / "ours", extra_args=args.ours_arg)))
    if args.only in ("both", "reference"):
        try:
            venv = ensure_reference_venv(args.ref_venv.expanduser(), workdir)
            payload["meta"]["reference_version"] = reference_version(venv)
            sides.append(Side("reference", ReferenceServer(workdir / "reference", venv)))
        except Exception as exc:  # keep going with our server alone
            failed = True
            log(f"reference server unavailable: {exc}")
            payload["servers"]["reference"] = {"errors": [f"setup: {exc}"]}

    try:
        run_all(sides, plan)
    finally:
        for side in sides:
            payload["servers"][side.name] = side.result
            failed = failed or bool(side.result.get("errors"))
        payload["meta"]["loadavg_end"] = list(os.getloadavg())
        write_json(args.output, payload)

    ours = payload["servers"].get("ours")
    ref = payload["servers"].get("reference")
    rows = build_comparison(ours, ref)
    payload["comparison"] = rows
    payload["node_login_flatness"] = {"ours": flatness(ours), "reference": flatness(ref)}
    write_json(args.output, payload)

    print()
    print(render_table(rows))
    for name, flat in payload["node_login_flatness"].items():
        if flat:
            print(
                f"node login p50 growth {flat['from_nodes']} -> {flat['to_nodes']} nodes, "
                f"{name}: {flat['p50_growth']}x ({'flat' if flat['flat'] else 'NOT flat'})"
            )
    for name, side in payload["servers"].items():
        capped = [
            f"{c} nodes: {v['n']} of {v['attempts_planned']}"
            for c, v in (_get(side, "node_login") or {}).items()
        ]
        if capped:
            print(f"node login attempts measured, {name}: " + ", ".join(capped))
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
