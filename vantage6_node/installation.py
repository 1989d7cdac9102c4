"""One node installation on a shared container engine: its id and the label on its containers.

Several nodes may share one container engine. Each keeps a random id in ``<task_dir>/node.json``
and labels every container it starts with it, so that the node (after a crash) and
``v6 node stop`` / ``v6 node clean`` / ``v6 sandbox down`` find its containers and no others.
"""

from __future__ import annotations

import contextlib
import json
import uuid
from pathlib import Path

from vantage6_node.runtime.base import ContainerRuntime, ContainerRuntimeError

#: the file in the task folder that holds the installation's id
INSTANCE_FILE = "node.json"
#: the container label whose value is the installation's id
LABEL_INSTANCE = "v6node.instance"


def instance_file(task_dir: Path) -> Path:
    """Where the id of the installation that uses ``task_dir`` is kept."""
    return Path(task_dir) / INSTANCE_FILE


def read_instance_id(task_dir: Path) -> str | None:
    """The id kept in ``task_dir``, or None when the node never ran there (or the file is bad)."""
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        return str(json.loads(instance_file(task_dir).read_text())["instance_id"])
    return None


def new_instance_record() -> tuple[str, bytes]:
    """A new random id and the content of the file that keeps it (for :func:`instance_file`)."""
    value = uuid.uuid4().hex
    return value, json.dumps({"instance_id": value}).encode()


def instance_labels(ident: str) -> dict[str, str]:
    """The labels that select the containers of installation ``ident``."""
    return {LABEL_INSTANCE: ident}


def remove_instance_containers(runtime: ContainerRuntime, ident: str) -> int:
    """Remove every container (running or not) of installation ``ident``; how many went."""
    removed = 0
    for container in runtime.list_containers(instance_labels(ident), all=True):
        try:
            runtime.remove(container.id, force=True)
            removed += 1
        except ContainerRuntimeError:
            pass
    return removed
