"""The Socket.IO vocabulary of vantage6 4.x: namespace, event names and payload shapes.

Server, node and client all speak it; this module is the one place it is written down
(docs/design/wire-facts-node.md has the table). Payloads are plain dicts on the wire; the
``TypedDict`` classes name their keys, and the builders make them, so that a sender cannot
leave a key out.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict

NAMESPACE = "/tasks"
"""The only namespace: every event below is sent on it."""

RUN_OFFER_FEATURE = "run_offer"
"""Listed under ``features`` in a node's handshake ``auth``: it wants ``run_offer`` events
(ours; a vantage6 server ignores the request)."""


class Event(StrEnum):
    """Event names, as vantage6 4.x spells them (note the two with a hyphen)."""

    # server -> node and user
    SYNC = "sync"
    NEW_TASK = "new_task"
    RUN_OFFER = "run_offer"
    KILL_CONTAINERS = "kill_containers"
    ALGORITHM_STATUS_CHANGE = "algorithm_status_change"
    STATUS_UPDATE = "status_update"
    ALGORITHM_LOG = "algorithm_log"
    NODE_ONLINE = "node-online"
    NODE_OFFLINE = "node-offline"
    EXPIRED_TOKEN = "expired_token"
    INVALID_TOKEN = "invalid_token"
    MESSAGE = "message"
    # node -> server (besides algorithm_status_change and algorithm_log)
    PING = "ping"
    NODE_INFO_UPDATE = "node_info_update"


class StatusChange(TypedDict):
    """``algorithm_status_change``: a run's new status, sent by its node and by the server."""

    status: str
    run_id: int
    task_id: int
    job_id: int | None
    parent_id: int | None
    collaboration_id: int
    node_id: int | None
    organization_id: int


class StatusUpdate(TypedDict):
    """``status_update``: a run changed (the server sends it after the status change)."""

    run_id: int


class NewTask(TypedDict):
    """``new_task``: nodes fetch their open runs of task ``id``."""

    id: int
    parent_id: int | None


class KillItem(TypedDict):
    task_id: int
    run_id: int
    organization_id: int


class KillList(TypedDict):
    """``kill_containers`` for listed runs."""

    kill_list: list[KillItem]
    collaboration_id: int


class KillNode(TypedDict):
    """``kill_containers`` for every run of one node."""

    node_id: int
    collaboration_id: int


class NodeStatus(TypedDict):
    """``node-online`` and ``node-offline``."""

    id: int
    name: str | None
    org_id: int


class RunOffer(TypedDict):
    """``run_offer`` (ours): a node's run of a new task, with the task and a container token."""

    run: dict[str, Any]
    container_token: str


class AlgorithmLog(TypedDict, total=False):
    """``algorithm_log``: lines an algorithm wrote. The node sends run, task, collaboration
    and log; the server relays them with the node and organization added."""

    run_id: int
    task_id: int
    collaboration_id: int
    log: str
    stream: str
    line: Any
    node_id: int
    organization_id: int


def status_change(
    *,
    status: str,
    run_id: int,
    task_id: int,
    job_id: int | None,
    parent_id: int | None,
    collaboration_id: int,
    node_id: int | None,
    organization_id: int,
) -> StatusChange:
    """An ``algorithm_status_change`` payload; every key is given, none guessed."""
    return {
        "status": status,
        "run_id": run_id,
        "task_id": task_id,
        "job_id": job_id,
        "parent_id": parent_id,
        "collaboration_id": collaboration_id,
        "node_id": node_id,
        "organization_id": organization_id,
    }
