"""Run offers: each node of a new task gets its run, with input and container token, at once.

vantage6 nodes hear ``new_task {id, parent_id}`` and then ask for their open runs and for a
container token: two requests per node before the algorithm can start, all arriving at the
same moment. Nodes that say so when they connect (``auth: {"features": ["run_offer"]}``) also
get ``run_offer {run, container_token}`` in a room of their own, emitted before ``new_task``;
they start from it and skip both requests. Others see no difference.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_common.events import Event, RunOffer
from vantage6_server import serialize
from vantage6_server.db import models as m
from vantage6_server.events.emitter import EventEmitter, offer_room
from vantage6_server.security.tokens import TokenIssuer

#: container tokens live as long as their task (they are refused once it has ended)
CONTAINER_TOKEN_MAX_MINUTES = 60 * 24 * 30


def container_identity(task: m.Task, node: m.Node) -> dict[str, Any]:
    """The claims of the token an algorithm container of ``task`` on ``node`` works with."""
    return {
        "client_type": "container",
        "node_id": node.id,
        "organization_id": node.organization_id,
        "collaboration_id": node.collaboration_id,
        "study_id": task.study_id,
        "store_id": task.algorithm_store_id,
        "task_id": task.id,
        "image": task.image,
        "databases": [
            {"label": d.get("label"), **(d.get("parameters") or {})} for d in task.databases or []
        ],
    }


def issue_container_token(tokens: TokenIssuer, task: m.Task, node: m.Node) -> str:
    return tokens.container(
        container_identity(task, node), CONTAINER_TOKEN_MAX_MINUTES, task.token_key
    )


def offer_runs(session: Session, events: EventEmitter, tokens: TokenIssuer, task: m.Task) -> int:
    """Emit a ``run_offer`` to the node of every organization with a run; returns how many."""
    org_ids = {run.organization_id for run in task.runs}
    if not org_ids:
        return 0
    nodes = session.scalars(
        select(m.Node).where(
            m.Node.collaboration_id == task.collaboration_id,
            m.Node.organization_id.in_(org_ids),
            m.Node.status == "online",
        )
    ).all()
    by_org = {node.organization_id: node for node in nodes}
    task_fields = serialize.task(task)
    offered = 0
    for run in task.runs:
        node = by_org.get(run.organization_id)
        if node is None:
            continue
        payload: RunOffer = {
            "run": {**serialize.run(run), "task": task_fields},
            "container_token": issue_container_token(tokens, task, node),
        }
        events.emit(Event.RUN_OFFER, payload, room=offer_room(node.id))
        offered += 1
    return offered
