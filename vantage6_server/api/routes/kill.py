"""/kill: stop a task (and its subtasks) or everything a node is running."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import select

from vantage6_common.events import Event, KillNode
from vantage6_common.status import UNFINISHED_STATUSES
from vantage6_server.api.common import IdBody, get_or_404, require
from vantage6_server.api.deps import Ctx, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import KillAnswer, answers
from vantage6_server.db import models as m
from vantage6_server.events.emitter import collaboration_room
from vantage6_server.rbac import policy
from vantage6_server.services.tasks import descendants, kill_tasks

router = APIRouter(tags=["Kill"])


@router.post("/kill/task", summary="Kill a task and its subtasks", **answers(KillAnswer))
def kill_task(body: IdBody, user: UserAuth, ctx: Ctx, session: Db) -> dict:
    task = get_or_404(session, m.Task, body.id, "Task")
    require(policy.may_kill_task(user, task))
    if task.status not in UNFINISHED_STATUSES:
        raise bad_request(f"Task id={task.id} has already finished ({task.status})")
    killed = kill_tasks(session, ctx.events, descendants(session, task))
    return {
        "msg": f"Kill requested for {len(killed)} run(s) of task id={task.id}",
        "kill_list": killed,
    }


@router.post("/kill/node/tasks", summary="Kill every run on a node", **answers(KillAnswer))
def kill_node_tasks(body: IdBody, user: UserAuth, ctx: Ctx, session: Db) -> dict:
    node = get_or_404(session, m.Node, body.id, "Node")
    require(policy.may_kill_node_tasks(user, node))
    if node.status != "online":
        raise bad_request(f"Node id={node.id} is not online")
    tasks = (
        session.scalars(
            select(m.Task)
            .join(m.Run)
            .where(
                m.Task.collaboration_id == node.collaboration_id,
                m.Run.organization_id == node.organization_id,
                m.Run.status.in_(UNFINISHED_STATUSES),
            )
        )
        .unique()
        .all()
    )
    killed = kill_tasks(session, ctx.events, [t for t in tasks])
    everything: KillNode = {"node_id": node.id, "collaboration_id": node.collaboration_id}
    ctx.events.emit(
        Event.KILL_CONTAINERS, everything, room=collaboration_room(node.collaboration_id)
    )
    return {
        "msg": f"Kill requested for {len(killed)} run(s) on node id={node.id}",
        "kill_list": killed,
    }
