"""Algorithm used by the node tests: sleeps, crashes, probes its surroundings."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

from vantage6_algorithm.decorators import algorithm_client, data


def echo(**kwargs: Any) -> dict[str, Any]:
    """Return the arguments and the (decoded) environment the node gave us."""
    names = [
        "INPUT_FILE",
        "OUTPUT_FILE",
        "TOKEN_FILE",
        "TEMPORARY_FOLDER",
        "HOST",
        "PORT",
        "API_PATH",
        "USER_REQUESTED_DATABASE_LABELS",
        "DB_LABELS",
    ]
    env = {k: os.environ.get(k) for k in names}
    env.update({k: v for k, v in os.environ.items() if "_DATABASE_" in k or "_DB_PARAM_" in k})
    env.update({k: v for k, v in os.environ.items() if k.startswith("ALGO_")})
    return {"kwargs": kwargs, "env": env}


@data(1)
def count_rows(df: Any) -> int:
    return int(len(df))


def sleep(seconds: float = 1.0, marker: str | None = None) -> str:
    print("going to sleep", flush=True)
    if marker:
        Path(os.environ["TEMPORARY_FOLDER"], marker).write_text(marker)
    time.sleep(seconds)
    print("woke up", flush=True)
    return "slept"


def crash(message: str = "boom") -> None:
    print("about to fail", flush=True)
    raise RuntimeError(message)


def _try_connect(host: str, port: int, timeout: float = 2.0) -> str:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return "connected"
    except OSError as exc:
        return f"failed: {exc.__class__.__name__}"


def probe(targets: list[list[Any]] | None = None, paths: list[str] | None = None) -> dict:
    """What can this container reach: TCP targets, DNS, file paths, interfaces."""
    out: dict[str, Any] = {"tcp": {}, "paths": {}}
    for host, port in targets or []:
        out["tcp"][f"{host}:{port}"] = _try_connect(host, int(port))
    try:
        socket.getaddrinfo("deb.debian.org", 80)
        out["dns"] = "resolved"
    except OSError as exc:
        out["dns"] = f"failed: {exc.__class__.__name__}"
    for path in paths or []:
        p = Path(path)
        if p.is_dir():
            out["paths"][path] = sorted(x.name for x in p.iterdir())
        elif p.exists():
            out["paths"][path] = "file"
        else:
            out["paths"][path] = None
    try:
        out["interfaces"] = sorted(os.listdir("/sys/class/net"))
    except OSError:
        out["interfaces"] = None
    out["mnt"] = {d: sorted(os.listdir(f"/mnt/{d}")) for d in sorted(os.listdir("/mnt"))}
    return out


@algorithm_client
def central_sleep(client: Any, seconds: float = 5.0, marker: str | None = None) -> list:
    """Create a subtask that sleeps on every organization and wait for its results."""
    orgs = [o["id"] for o in client.organization.list()]
    task = client.task.create(
        input_={"method": "sleep", "kwargs": {"seconds": seconds, "marker": marker}},
        organizations=orgs,
        name="sleep subtask",
    )
    return client.wait_for_results(task["id"])


@algorithm_client
def forbidden_calls(client: Any) -> dict:
    """Calls the proxy must refuse."""
    out = {}
    for method, path in [
        ("DELETE", "task/1"),
        ("POST", "user"),
        ("GET", "user"),
        ("PATCH", "organization/1"),
        ("POST", "token/node"),
    ]:
        try:
            client.request(path, method=method.lower(), json={})
            out[f"{method} {path}"] = "allowed"
        except Exception as exc:  # noqa: BLE001
            out[f"{method} {path}"] = getattr(exc, "status_code", None)
    return out


def tcp_exchange(host: str, port: int, payload_hex: str, timeout: float = 5.0) -> str:
    """Send bytes to host:port and return the first bytes of the answer (hex)."""
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(bytes.fromhex(payload_hex))
        return sock.recv(64).hex()


def writable(paths: list[str]) -> dict[str, str]:
    """Try to append to each path."""
    out = {}
    for path in paths:
        try:
            with open(path, "a") as fh:
                fh.write("")
            out[path] = "writable"
        except OSError as exc:
            out[path] = f"refused: {exc.__class__.__name__}"
    return out


def database_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "DATABASE" in k or "QUERY" in k}


def cgroup_limits() -> dict[str, str | None]:
    """Memory and CPU limits as the container's cgroup shows them (v1 or v2)."""
    files = {
        "memory_v2": "/sys/fs/cgroup/memory.max",
        "cpu_v2": "/sys/fs/cgroup/cpu.max",
        "pids_v2": "/sys/fs/cgroup/pids.max",
        "memory_v1": "/sys/fs/cgroup/memory/memory.limit_in_bytes",
        "cpu_quota_v1": "/sys/fs/cgroup/cpu/cpu.cfs_quota_us",
        "cpu_period_v1": "/sys/fs/cgroup/cpu/cpu.cfs_period_us",
        "pids_v1": "/sys/fs/cgroup/pids/pids.max",
    }
    out: dict[str, str | None] = {}
    for name, path in files.items():
        try:
            out[name] = Path(path).read_text().strip()
        except OSError:
            out[name] = None
    return out


#: the repeated piece of a ``blob_result`` filler (ASCII, so the JSON needs no escaping)
FILLER_BLOCK = (b"0123456789abcdef" * 65536)[: 1 << 20]


def blob_result(size_mib: int = 0, pad: str = "") -> None:
    """Write a result of about ``size_mib`` MiB straight to the output file, streaming, and
    exit: ``{"input_sha256", "input_bytes", "filler"}`` (the filler is ``size_mib`` times
    :data:`FILLER_BLOCK`). The input file is hashed as it is; ``pad`` only makes it large."""
    import hashlib
    import json

    digest = hashlib.sha256()
    size = 0
    with open(os.environ["INPUT_FILE"], "rb") as fp:
        while piece := fp.read(1 << 20):
            digest.update(piece)
            size += len(piece)
    del pad
    head = json.dumps({"input_sha256": digest.hexdigest(), "input_bytes": size})
    with open(os.environ["OUTPUT_FILE"], "wb") as out:
        out.write(head[:-1].encode() + b', "filler": "')
        for _ in range(size_mib):
            out.write(FILLER_BLOCK)
        out.write(b'"}')
    print(f"wrote a result of {size_mib} MiB", flush=True)
    os._exit(0)  # the result is written; the wrapper would hold it in memory
