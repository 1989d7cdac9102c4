"""Minimal closed-loop HTTP/1.1 load generator (fallback when wrk is absent).

Runs ``--connections`` kept-alive connections, each sending GET requests back
to back for ``--duration`` seconds, and prints one JSON line with the result.
Only meant for loopback targets; it stops by itself when the time is up.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from urllib.parse import urlsplit


async def _worker(host: str, port: int, request: bytes, deadline: float, stats: dict) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    try:
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            writer.write(request)
            await writer.drain()
            status_line = await reader.readline()
            if not status_line:
                # the server closed a kept-alive connection: count it and reconnect
                stats["errors"] += 1
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
                continue
            status = int(status_line.split()[1])
            length = None
            chunked = False
            close = status_line.startswith(b"HTTP/1.0")
            while True:
                line = await reader.readline()
                if line in (b"\r\n", b"\n", b""):
                    break
                name, _, value = line.decode("latin-1").partition(":")
                name = name.strip().lower()
                if name == "content-length":
                    length = int(value.strip())
                elif name == "transfer-encoding" and "chunked" in value.lower():
                    chunked = True
                elif name == "connection":
                    close = "close" in value.lower()
            if chunked:
                while True:
                    size = int((await reader.readline()).strip().split(b";")[0], 16)
                    await reader.readexactly(size + 2)
                    if size == 0:
                        break
            elif length is not None:
                await reader.readexactly(length)
            elif close:
                await reader.read()
            stats["latencies"].append(time.perf_counter() - start)
            if 200 <= status < 400:
                stats["ok"] += 1
            else:
                stats["non_2xx"] += 1
            if close:
                writer.close()
                reader, writer = await asyncio.open_connection(host, port)
    except (ConnectionError, asyncio.IncompleteReadError):
        stats["errors"] += 1
    finally:
        writer.close()


async def _run(
    url: str, connections: int, duration: float, headers: list[str] | None = None
) -> dict:
    parts = urlsplit(url)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
        "Accept: application/json\r\n" + "".join(f"{h}\r\n" for h in headers or []) + "\r\n"
    ).encode()
    stats = {"ok": 0, "non_2xx": 0, "errors": 0, "latencies": []}
    start = time.perf_counter()
    deadline = start + duration
    await asyncio.gather(
        *(
            _worker(parts.hostname or "127.0.0.1", parts.port or 80, request, deadline, stats)
            for _ in range(connections)
        )
    )
    elapsed = time.perf_counter() - start
    lat = sorted(stats["latencies"])

    def pct(q: float) -> float:
        if not lat:
            return float("nan")
        return round(lat[min(len(lat) - 1, int(q / 100 * len(lat)))] * 1000, 3)

    total = stats["ok"] + stats["non_2xx"]
    return {
        "rps": round(total / elapsed, 1),
        "requests": total,
        "non_2xx": stats["non_2xx"],
        "socket_errors": stats["errors"],
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--url", required=True)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument(
        "--header", action="append", default=[], help="extra request header 'Name: value'"
    )
    args = parser.parse_args()
    host = urlsplit(args.url).hostname or ""
    if not (host.startswith("127.") or host in ("localhost", "::1")):
        raise SystemExit("loadgen only targets loopback addresses")
    print(json.dumps(asyncio.run(_run(args.url, args.connections, args.duration, args.header))))


if __name__ == "__main__":
    main()
