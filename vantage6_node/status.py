"""The node's state in a small JSON file, for whoever started it (``v6 node start/list``).

``python -m vantage6_node --status-file PATH`` keeps PATH up to date::

    {"pid": 123, "state": "starting", "detail": "...", "kind": "", "time": 1700000000.0}

``state`` is ``starting`` (until the server accepted the API key and the node is ready),
``online`` (connected to the server), ``no-server`` (running, but the server cannot be
reached; ``detail`` says why), ``failed`` (the node ends; ``detail`` is its one-line reason
and ``kind`` one of ``config``, ``runtime``, ``auth``, ``encryption``, ``error``) or
``stopped``. The file is replaced atomically, so a reader never sees half of it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

STARTING = "starting"
ONLINE = "online"
NO_SERVER = "no-server"
FAILED = "failed"
STOPPED = "stopped"


class StatusFile:
    """Writes the node's state to ``path`` (does nothing when ``path`` is None)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.last: tuple[str, str, str] | None = None

    def write(self, state: str, detail: str = "", kind: str = "") -> None:
        if self.path is None or self.last == (state, detail, kind):
            return
        self.last = (state, detail, kind)
        record: dict[str, Any] = {
            "pid": os.getpid(),
            "state": state,
            "detail": " ".join(detail.split())[:500],
            "kind": kind,
            "time": time.time(),
        }
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps(record))
            os.replace(tmp, self.path)
        except OSError:
            pass  # informational: never a reason for the node to stop


def read_status(path: Path) -> dict[str, Any] | None:
    """The last state written to ``path``, or None."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("state"), str) else None
