"""Reading a podman container's log file directly (``k8s-file`` log driver).

Asking the engine for a container's output costs a request that, on a busy machine, waits its
turn behind everything else the engine does. Podman's default log driver writes each container's
output to ``<graph root>/overlay-containers/<id>/userdata/ctr.log``, one line per write:
``<RFC 3339 time> <stdout|stderr> <F|P> <text>`` (``P``: the line continues in the next entry).
The node reads that file itself when it exists (this is the backend's
:class:`~vantage6_node.runtime.base.LogReader`); otherwise it asks the engine. The
file is written by podman's conmon, not by the container, but its size is the container's
choice: only its end is read.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
from collections.abc import AsyncIterator, Mapping, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: the most read from a log file at once (the node keeps and sends only the end of a log)
MAX_READ_BYTES = 4 * 1024 * 1024


def podman_graph_root(argv: Sequence[str], env: Mapping[str, str]) -> Path | None:
    """Podman's storage root when its containers log to files (k8s-file), else None.

    ``argv`` is the podman command (with its global arguments), ``env`` its environment.
    """
    try:
        proc = subprocess.run(
            [*argv, "info", "--format", "json"],
            capture_output=True,
            env=dict(env),
            timeout=60,
            check=False,
        )
        info = json.loads(proc.stdout or b"{}")
    except (OSError, ValueError, subprocess.TimeoutExpired):
        return None
    if (info.get("host") or {}).get("logDriver") != "k8s-file":
        return None
    root = (info.get("store") or {}).get("graphRoot")
    return Path(root) if root else None


def parse_k8s_lines(data: str, partial: str = "") -> tuple[list[str], str]:
    """Lines of output from k8s-file entries; returns them and an unfinished partial line."""
    lines: list[str] = []
    for entry in data.splitlines():
        parts = entry.split(" ", 3)
        if len(parts) < 3:
            continue
        flag = parts[2]
        text = parts[3] if len(parts) > 3 else ""
        if flag == "P":
            partial += text
            continue
        lines.append(partial + text)
        partial = ""
    return lines, partial


class LogFiles:
    """Finds and reads container log files under podman's storage root."""

    def __init__(self, graph_root: Path) -> None:
        self.graph_root = graph_root

    @classmethod
    def for_podman(cls, argv: Sequence[str], env: Mapping[str, str]) -> LogFiles | None:
        root = podman_graph_root(argv, env)
        return cls(root) if root is not None and root.is_dir() else None

    def path(self, container_id: str) -> Path:
        return self.graph_root / "overlay-containers" / container_id / "userdata" / "ctr.log"

    def has(self, container_id: str) -> bool:
        return self.path(container_id).exists()

    def read(self, container_id: str, max_bytes: int = MAX_READ_BYTES) -> list[str] | None:
        """The output lines so far (of the last ``max_bytes`` of the file), or None when the
        file is not there."""
        try:
            with open(self.path(container_id), "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if size > max_bytes:
                    fh.seek(size - max_bytes)
                    fh.readline()  # start at a whole entry
                raw = fh.read(max_bytes)
        except OSError:
            return None
        lines, partial = parse_k8s_lines(raw.decode("utf-8", "replace"))
        if partial:
            lines.append(partial)
        return lines

    async def follow(
        self, container_id: str, stop: asyncio.Event, interval: float = 0.2
    ) -> AsyncIterator[str]:
        """Lines as they are written (at most ``MAX_READ_BYTES`` per look), until ``stop``
        is set."""
        path = self.path(container_id)
        offset = 0
        pending = b""
        partial = ""
        while True:
            finished = stop.is_set()
            try:
                with open(path, "rb") as fh:
                    fh.seek(offset)
                    chunk = fh.read(MAX_READ_BYTES)
            except OSError:
                chunk = b""
            if chunk:
                offset += len(chunk)
                pending += chunk
                cut = pending.rfind(b"\n") + 1
                complete, pending = pending[:cut], pending[cut:]
                lines, partial = parse_k8s_lines(complete.decode("utf-8", "replace"), partial)
                for line in lines:
                    yield line
            if finished:
                return  # (the complete log is read once more at the end)
            try:
                await asyncio.wait_for(stop.wait(), timeout=interval)
            except TimeoutError:
                pass
