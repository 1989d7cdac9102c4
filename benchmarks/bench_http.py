"""HTTP plumbing for the server benchmarks: a kept-alive JSON client, latency
statistics and the throughput load generator (wrk, or a Python fallback).

Everything here talks to 127.0.0.1 only; loops are bounded in count and time.
"""

from __future__ import annotations

import http.client
import json
import math
import re
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent


class ApiError(RuntimeError):
    """An API call answered with an unexpected status."""

    def __init__(self, method: str, path: str, status: int, body: bytes) -> None:
        snippet = body[:300].decode("utf-8", "replace")
        super().__init__(f"{method} {path} -> HTTP {status}: {snippet}")
        self.status = status


@dataclass
class KeepAliveClient:
    """Sequential JSON client over a single persistent HTTP/1.1 connection.

    ``http.client`` is used instead of a richer library on purpose: its
    per-request overhead is small and predictable, so the figures are
    dominated by the server. ``reconnects`` counts how often the server
    closed the connection, so a run can tell whether keep-alive really held.
    """

    host: str
    port: int
    api_prefix: str = "/api"
    timeout: float = 900.0
    token: str | None = None
    reconnects: int = 0
    _conn: http.client.HTTPConnection | None = field(default=None, repr=False)
    _sock_id: int | None = field(default=None, repr=False)

    def _connection(self) -> http.client.HTTPConnection:
        if self._conn is None:
            self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
        return self._conn

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
            self._sock_id = None

    def request(
        self,
        method: str,
        path: str,
        body: object | None = None,
        expect: tuple[int, ...] = (200, 201),
        auth: bool = True,
    ) -> tuple[int, object]:
        """Send one request and return ``(status, decoded JSON or None)``."""
        headers = {"Accept": "application/json"}
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth and self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        url = self.api_prefix + path
        for attempt in range(2):
            conn = self._connection()
            try:
                conn.request(method, url, body=payload, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                # The server closed the connection after its last answer (without
                # saying so) or dropped it while idle: count it and retry once.
                self.reconnects += 1
                self.close()
                if attempt:
                    raise
                continue
            break
        sock = conn.sock
        if sock is None:
            # server answered "Connection: close"
            self.reconnects += 1
        elif self._sock_id is not None and id(sock) != self._sock_id:
            self.reconnects += 1
        self._sock_id = id(sock) if sock is not None else None
        if resp.status not in expect:
            raise ApiError(method, url, resp.status, data)
        decoded = json.loads(data) if data else None
        return resp.status, decoded

    def timed(self, method: str, path: str, body: object | None = None, **kw) -> float:
        """Run one request and return its wall time in seconds."""
        start = time.perf_counter()
        self.request(method, path, body, **kw)
        return time.perf_counter() - start


def percentile(sorted_values: list[float], q: float) -> float:
    """Linear-interpolated percentile of an already sorted list (q in 0..100)."""
    if not sorted_values:
        return math.nan
    if len(sorted_values) == 1:
        return sorted_values[0]
    pos = (len(sorted_values) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = math.ceil(pos)
    frac = pos - lo
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * frac


def latency_summary(samples_s: list[float]) -> dict:
    """Summarise latencies (given in seconds) in milliseconds."""
    ms = sorted(s * 1000.0 for s in samples_s)
    if not ms:
        return {"n": 0}
    return {
        "n": len(ms),
        "p50_ms": round(percentile(ms, 50), 3),
        "p95_ms": round(percentile(ms, 95), 3),
        "p99_ms": round(percentile(ms, 99), 3),
        "mean_ms": round(sum(ms) / len(ms), 3),
        "min_ms": round(ms[0], 3),
        "max_ms": round(ms[-1], 3),
    }


# --------------------------------------------------------------------------- throughput

_WRK_RPS = re.compile(r"Requests/sec:\s*([\d.]+)")
_WRK_TOTAL = re.compile(r"(\d+) requests in ([\d.]+)(\w+)")
_WRK_NON2XX = re.compile(r"Non-2xx or 3xx responses:\s*(\d+)")
_WRK_ERRORS = re.compile(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)")
_WRK_PCT = re.compile(r"^\s*(50|75|90|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(
    url: str, connections: int, duration_s: int, headers: list[str] = (), threads: int = 1
) -> dict:
    """Run wrk against ``url`` (with extra ``headers``, 'Name: value') and parse its summary."""
    cmd = [
        "wrk",
        f"-t{threads}",
        f"-c{connections}",
        f"-d{duration_s}s",
        "--timeout",
        "10s",
        "--latency",
        *(arg for header in headers for arg in ("-H", header)),
        url,
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration_s + 60, check=True
    ).stdout
    rps = _WRK_RPS.search(out)
    if not rps:
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    result: dict = {
        "tool": "wrk",
        "command": " ".join(_redacted(cmd)),
        "rps": round(float(rps.group(1)), 1),
    }
    total = _WRK_TOTAL.search(out)
    if total:
        result["requests"] = int(total.group(1))
    non2xx = _WRK_NON2XX.search(out)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    errs = _WRK_ERRORS.search(out)
    result["socket_errors"] = sum(int(x) for x in errs.groups()) if errs else 0
    for pct, value, unit in _WRK_PCT.findall(out):
        result[f"p{pct}_ms"] = round(float(value) * _UNIT_MS[unit], 3)
    return result


def run_python_loadgen(
    url: str, connections: int, duration_s: int, headers: list[str] = ()
) -> dict:
    """Fallback load generator: ``loadgen.py`` in a separate process."""
    cmd = [
        sys.executable,
        str(HERE / "loadgen.py"),
        "--url",
        url,
        "--connections",
        str(connections),
        "--duration",
        str(duration_s),
        *(arg for header in headers for arg in ("--header", header)),
    ]
    out = subprocess.run(
        cmd, capture_output=True, text=True, timeout=duration_s + 60, check=True
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["tool"] = "python-asyncio (benchmarks/loadgen.py)"
    result["command"] = " ".join(_redacted(cmd))
    return result


def _redacted(cmd: list[str]) -> list[str]:
    """The command line without the bearer token (it goes into the results file)."""
    return ["Authorization: Bearer ..." if arg.startswith("Authorization:") else arg for arg in cmd]


def measure_throughput(
    url: str, connections: int, duration_s: int, warmup_s: int = 0, headers: list[str] = ()
) -> dict:
    """Warm up, then measure requests/second with the best available generator."""
    runner = run_wrk if wrk_path() else run_python_loadgen
    if warmup_s > 0:
        runner(url, connections, warmup_s, headers)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = runner(url, connections, duration_s, headers)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    result["loadgen_cpu_cores"] = round(used / duration_s, 2)
    result["connections"] = connections
    result["duration_s"] = duration_s
    return result
