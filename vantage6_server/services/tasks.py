"""Task status bookkeeping and kills."""

from __future__ import annotations

from sqlalchemy import inspect, select
from sqlalchemy.orm import Session, object_session

from vantage6_common.events import Event, KillItem, KillList, NewTask, StatusUpdate, status_change
from vantage6_common.status import UNFINISHED_STATUSES, RunStatus, task_status
from vantage6_server.db import models as m
from vantage6_server.events.emitter import (
    ALL_NODES,
    EventEmitter,
    collaboration_room,
)


def refresh_task_status(task: m.Task) -> bool:
    """Recompute a task's status from its runs; returns whether it changed.

    Runs not loaded yet are not loaded for this: their statuses are one column query (a run
    carries its input, result and log).
    """
    session = object_session(task)
    if session is not None and "runs" in inspect(task).unloaded:
        statuses = list(session.scalars(select(m.Run.status).where(m.Run.task_id == task.id)))
    else:
        statuses = [r.status for r in task.runs]
    new = task_status(statuses) if statuses else task.status
    changed = new != task.status
    task.status = new
    return changed


def descendants(session: Session, task: m.Task) -> list[m.Task]:
    """The task and all its subtasks, recursively."""
    found = [task]
    frontier = [task.id]
    while frontier:
        children = session.scalars(select(m.Task).where(m.Task.parent_id.in_(frontier))).all()
        found.extend(children)
        frontier = [c.id for c in children]
    return found


def kill_tasks(session: Session, events: EventEmitter, tasks: list[m.Task]) -> list[dict]:
    """Mark unfinished runs killed, tell the nodes to stop their containers, announce it."""
    kill_list: list[KillItem] = []
    killed: list[m.Run] = []
    now = m.utcnow()
    for task in tasks:
        for run in task.runs:
            if run.status in UNFINISHED_STATUSES:
                run.status = RunStatus.KILLED.value
                run.finished_at = now
                killed.append(run)
                kill_list.append(
                    {"task_id": task.id, "run_id": run.id, "organization_id": run.organization_id}
                )
        refresh_task_status(task)
    session.commit()
    by_collab: dict[int, list[KillItem]] = {}
    for item, run in zip(kill_list, killed, strict=True):
        by_collab.setdefault(run.task.collaboration_id, []).append(item)
    for collab_id, items in by_collab.items():
        payload: KillList = {"kill_list": items, "collaboration_id": collab_id}
        events.emit(Event.KILL_CONTAINERS, payload, room=collaboration_room(collab_id))
    for run in killed:
        # (the node's later "killed" report changes nothing here, so this is the announcement)
        announce_run_change(events, run, None)
    return kill_list


def announce_new_task(events: EventEmitter, task: m.Task) -> None:
    payload: NewTask = {"id": task.id, "parent_id": task.parent_id}
    events.emit(Event.NEW_TASK, payload, room=collaboration_room(task.collaboration_id))


def announce_run_change(events: EventEmitter, run: m.Run, node_id: int | None) -> None:
    task = run.task
    # the event with the status first: a listener woken by it need not ask for the status
    room = collaboration_room(task.collaboration_id)
    events.emit(
        Event.ALGORITHM_STATUS_CHANGE,
        status_change(
            status=run.status,
            run_id=run.id,
            task_id=task.id,
            job_id=task.job_id,
            parent_id=task.parent_id,
            collaboration_id=task.collaboration_id,
            node_id=node_id,
            organization_id=run.organization_id,
        ),
        room=room,
    )
    update: StatusUpdate = {"run_id": run.id}
    events.emit(Event.STATUS_UPDATE, update, room=room)


__all__ = ["ALL_NODES", "announce_new_task", "announce_run_change", "kill_tasks"]
