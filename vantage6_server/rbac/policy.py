"""The authorization policy: the one place that decides who may see and do what.

Each resource says how its objects belong to an organization, a collaboration or an owning
user (``OWNERSHIP``). A rule ``(resource, scope, operation)`` then covers an object when:

- ``global``: always;
- ``collaboration``: the object's collaboration is one of the principal's (for objects that
  belong to organizations only: the organization shares a collaboration with it);
- ``organization``: the object belongs to the principal's organization;
- ``own``: the principal owns it.

Nodes and algorithm containers never reach past their own collaboration. ``visible`` turns
this into a query filter, ``may``/``ensure`` into a decision on one object; the functions
after them add what the scopes alone do not say (membership changes, task creation, kills,
escalation). Routes and socket handlers ask here; ``PermissionDenied`` becomes a 403.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any, Protocol

from sqlalchemy import ColumnElement, Select, false, or_, select, true

from vantage6_common.status import UNFINISHED_STATUSES
from vantage6_server.db import models as m
from vantage6_server.rbac.catalog import Operation, Scope
from vantage6_server.rbac.errors import DEFAULT_MESSAGE, PermissionDenied
from vantage6_server.rbac.guard import check_outranks
from vantage6_server.rbac.principal import Principal, user_rule_keys

VIEW, EDIT, CREATE, DELETE = Operation.VIEW, Operation.EDIT, Operation.CREATE, Operation.DELETE


# -- how objects belong -------------------------------------------------------------------------
def _get(obj: Any, path: str) -> Any:
    return functools.reduce(lambda o, name: getattr(o, name, None), path.split("."), obj)


class Link(Protocol):
    """One way an object points at organizations, a collaboration or a user."""

    def clause(self, ids: Collection[int]) -> ColumnElement[bool]: ...

    def values(self, obj: Any) -> set[int]: ...


@dataclass(frozen=True)
class Column:
    """A foreign-key column; ``path`` reads the same value from a loaded object."""

    column: Any
    path: str

    def clause(self, ids: Collection[int]) -> ColumnElement[bool]:
        if len(ids) == 1:
            return self.column == next(iter(ids))
        return self.column.in_(list(ids))

    def values(self, obj: Any) -> set[int]:
        value = _get(obj, self.path)
        return set() if value is None else {value}


@dataclass(frozen=True)
class Members:
    """A many-to-many link to organizations (a study's participants)."""

    relationship: Any
    path: str

    def clause(self, ids: Collection[int]) -> ColumnElement[bool]:
        return self.relationship.any(m.Organization.id.in_(list(ids)))

    def values(self, obj: Any) -> set[int]:
        return {o.id for o in _get(obj, self.path) or ()}


@dataclass(frozen=True)
class Ownership:
    organization: tuple[Link, ...] = ()
    collaboration: Link | None = None
    owner: Link | None = None
    # the organization scope means "my organization takes part" (a collaboration)
    organization_by_membership: bool = False
    # an object without organization is shared: visible to all who may view, changed by none
    shared_without_organization: bool = False


OWNERSHIP: dict[str, Ownership] = {
    "organization": Ownership(organization=(Column(m.Organization.id, "id"),)),
    "collaboration": Ownership(
        collaboration=Column(m.Collaboration.id, "id"), organization_by_membership=True
    ),
    "user": Ownership(
        organization=(Column(m.User.organization_id, "organization_id"),),
        owner=Column(m.User.id, "id"),
    ),
    "role": Ownership(
        organization=(Column(m.Role.organization_id, "organization_id"),),
        shared_without_organization=True,
    ),
    "node": Ownership(
        organization=(Column(m.Node.organization_id, "organization_id"),),
        collaboration=Column(m.Node.collaboration_id, "collaboration_id"),
    ),
    "task": Ownership(
        organization=(Column(m.Task.init_org_id, "init_org_id"),),
        collaboration=Column(m.Task.collaboration_id, "collaboration_id"),
        owner=Column(m.Task.init_user_id, "init_user_id"),
    ),
    # a run is seen by its own organization and by the task's; queries join Task
    "run": Ownership(
        organization=(
            Column(m.Run.organization_id, "organization_id"),
            Column(m.Task.init_org_id, "task.init_org_id"),
        ),
        collaboration=Column(m.Task.collaboration_id, "task.collaboration_id"),
        owner=Column(m.Task.init_user_id, "task.init_user_id"),
    ),
    "study": Ownership(
        organization=(Members(m.Study.organizations, "organizations"),),
        collaboration=Column(m.Study.collaboration_id, "collaboration_id"),
    ),
}
# kills are "event send" rules applied to a task or to a node
_KILL_TASK = Ownership(collaboration=OWNERSHIP["task"].collaboration)
_KILL_NODE = OWNERSHIP["node"]


def target(**attributes: Any) -> SimpleNamespace:
    """An object that does not exist yet (to create), described by its ownership fields."""
    return SimpleNamespace(**attributes)


# -- the generic decision -----------------------------------------------------------------------
def _organizations_of(own: Ownership, obj: Any) -> set[int]:
    return set().union(*(link.values(obj) for link in own.organization))


def _covers(p: Principal, scope: Scope, own: Ownership, obj: Any) -> bool:
    if scope is Scope.GLOBAL:
        return True
    if obj is None:
        return False
    if scope is Scope.OWN:
        return p.is_user and own.owner is not None and p.id in own.owner.values(obj)
    if scope is Scope.ORGANIZATION:
        if own.organization_by_membership and own.collaboration is not None:
            return bool(own.collaboration.values(obj) & p.collaboration_ids)
        return p.organization_id in _organizations_of(own, obj)
    if own.collaboration is not None:
        return bool(own.collaboration.values(obj) & p.collaboration_ids)
    return bool(_organizations_of(own, obj) & p.collaboration_organization_ids)


def _clause(p: Principal, scope: Scope, own: Ownership) -> ColumnElement[bool]:
    if scope is Scope.GLOBAL:
        return true()
    if scope is Scope.OWN:
        return own.owner.clause({p.id}) if p.is_user and own.owner is not None else false()
    if scope is Scope.ORGANIZATION:
        if own.organization_by_membership and own.collaboration is not None:
            return own.collaboration.clause(p.collaboration_ids)
        links = [link.clause({p.organization_id}) for link in own.organization]
        return or_(*links) if links else false()
    if own.collaboration is not None:
        return own.collaboration.clause(p.collaboration_ids)
    links = [link.clause(p.collaboration_organization_ids) for link in own.organization]
    return or_(*links) if links else false()


def _confined(p: Principal, own: Ownership, obj: Any) -> bool:
    """Nodes and containers act only within their own collaboration."""
    if p.collaboration_id is None or own.collaboration is None:
        return True
    return own.collaboration.values(obj) == {p.collaboration_id}


def _always_visible(p: Principal, resource: str) -> ColumnElement[bool] | None:
    """Everyone sees their own account and organization, whatever their rules."""
    if resource == "user" and p.is_user:
        return m.User.id == p.id
    if resource == "organization":
        return m.Organization.id == p.organization_id
    return None


def may(
    p: Principal,
    operation: Operation,
    resource: str,
    obj: Any = None,
    ownership: Ownership | None = None,
) -> bool:
    """Whether the principal may do ``operation`` on ``obj`` (``None``: global rules only)."""
    own = ownership or OWNERSHIP[resource]
    if operation is VIEW and obj is not None and _sees_itself(p, resource, obj):
        return True
    scopes = p.scopes(resource, operation)
    if not scopes:
        return False
    if obj is not None:
        if own.shared_without_organization and not _organizations_of(own, obj):
            return operation is VIEW
        if not _confined(p, own, obj):
            return False
        if p.is_node and resource == "node" and operation is not VIEW and obj.id != p.id:
            return False  # a node changes only itself
    return any(_covers(p, scope, own, obj) for scope in scopes)


def _sees_itself(p: Principal, resource: str, obj: Any) -> bool:
    if resource == "user":
        return p.is_user and obj.id == p.id
    if resource == "organization":
        return obj.id == p.organization_id
    if resource == "node":
        return p.is_node and obj.id == p.id
    return False


def ensure(
    p: Principal,
    operation: Operation,
    resource: str,
    obj: Any = None,
    msg: str = DEFAULT_MESSAGE,
) -> None:
    if not may(p, operation, resource, obj):
        raise PermissionDenied(msg)


def visible(p: Principal, resource: str, stmt: Select, operation: Operation = VIEW) -> Select:
    """``stmt`` limited to the objects of ``resource`` the principal may see.

    No query of its own beyond the principal's cached memberships; for runs, ``stmt`` must
    join Task.
    """
    own = OWNERSHIP[resource]
    scopes = p.scopes(resource, operation)
    conditions: list[ColumnElement[bool]] = []
    if Scope.GLOBAL not in scopes:
        clauses = [_clause(p, scope, own) for scope in sorted(scopes, key=lambda s: s.rank)]
        if clauses and own.shared_without_organization:
            clauses += [link.column.is_(None) for link in own.organization]
        always = _always_visible(p, resource) if operation is VIEW else None
        if always is not None:
            clauses.append(always)
        conditions.append(or_(*clauses) if clauses else false())
    if p.collaboration_id is not None and own.collaboration is not None:
        conditions.append(own.collaboration.clause({p.collaboration_id}))
    return stmt.where(*conditions) if conditions else stmt


def visible_ids(p: Principal, resource: str, column: Any) -> Select:
    """A subquery of the ids of ``resource`` the principal may see (for list filters)."""
    return visible(p, resource, select(column))


# -- what the scopes alone do not say ------------------------------------------------------------
def ensure_membership_change(p: Principal) -> None:
    """Who is in a collaboration is decided by global collaboration editors only.

    Adding an organization brings its users, nodes, key and task input into the scope of
    every collaboration-scoped rule (vantage6 4.14 asks this for ``organization_ids``).
    """
    if not p.has("collaboration", Scope.GLOBAL, EDIT):
        raise PermissionDenied(
            "You lack the permission to change the organizations of a collaboration"
        )


def ensure_node_move(p: Principal, node: m.Node, collaboration_id: int) -> None:
    """Moving a node needs the right to edit it where it is and where it goes."""
    ensure(p, EDIT, "node", node)
    ensure(
        p,
        EDIT,
        "node",
        target(id=node.id, organization_id=node.organization_id, collaboration_id=collaboration_id),
    )


def ensure_key_change(p: Principal, org: m.Organization) -> None:
    """An organization's public key decides who reads its input: only it (or global) sets it."""
    if not (
        p.has("organization", Scope.GLOBAL, EDIT)
        or (org.id == p.organization_id and p.has("organization", Scope.ORGANIZATION, EDIT))
    ):
        raise PermissionDenied("Only the organization itself can change its public key")


def ensure_user_change(p: Principal, operation: Operation, target_user: m.User) -> None:
    """Edit or delete a user: scope, and never a user holding rules the principal lacks."""
    ensure(p, operation, "user", target_user)
    if target_user.id != p.id:
        check_outranks(p, user_rule_keys(p.session, target_user.id))


def ensure_rename(p: Principal, target_user: m.User) -> None:
    if target_user.id != p.id:
        raise PermissionDenied("You cannot change the username of another user")


def may_view_role(p: Principal, role: m.Role) -> bool:
    if may(p, VIEW, "role", role):
        return True
    held = select(m.user_role.c.role_id).where(
        m.user_role.c.user_id == p.id, m.user_role.c.role_id == role.id
    )
    return p.is_user and p.session.scalar(held) is not None


def ensure_task_creation(
    p: Principal,
    collab: m.Collaboration,
    members: Iterable[int],
    parent: m.Task | None,
    image: str,
) -> None:
    """Users with the create rule, and containers (subtasks of their own task, same image),
    in a collaboration their organization takes part in (vantage6 4.14: root too)."""
    if p.is_container:
        if parent is None or collab.id != p.collaboration_id:
            raise PermissionDenied("Containers may only create tasks in their own collaboration")
        if image != parent.image:
            raise PermissionDenied("Containers may only create tasks with their own image")
        if parent.status not in UNFINISHED_STATUSES:
            raise PermissionDenied("The parent task has already finished")
    elif p.is_user:
        ensure(p, CREATE, "task", target(collaboration_id=collab.id, init_org_id=p.organization_id))
    else:
        raise PermissionDenied("Nodes cannot create tasks")
    if p.organization_id not in set(members):
        raise PermissionDenied(
            "You can only create tasks in collaborations your organization takes part in"
        )


def may_kill_task(p: Principal, task: m.Task) -> bool:
    """Event senders of the task's collaboration, and the user who created the task."""
    if p.is_user and task.init_user_id == p.id:
        return True
    return p.is_user and may(p, Operation.SEND, "event", task, _KILL_TASK)


def may_kill_node_tasks(p: Principal, node: m.Node) -> bool:
    return p.is_user and may(p, Operation.SEND, "event", node, _KILL_NODE)


def may_report(p: Principal, run: m.Run) -> bool:
    """Only the node of the run's organization in the task's collaboration reports on it."""
    return (
        p.is_node
        and run.organization_id == p.organization_id
        and run.task.collaboration_id == p.collaboration_id
    )


def ensure_container_token(p: Principal, task: m.Task) -> None:
    if task.collaboration_id != p.collaboration_id:
        raise PermissionDenied("This task is not in your collaboration")
    if not any(run.organization_id == p.organization_id for run in task.runs):
        raise PermissionDenied("This task has no run for your organization")


def event_scope(p: Principal) -> Scope | None:
    """The widest scope of the events a user receives on Socket.IO."""
    return p.scope("event", Operation.RECEIVE)


def ensure_blob_upload(p: Principal, task: m.Task | None) -> None:
    """Who may upload a blob (vantage6 4.14): users allowed to create tasks in a collaboration
    or more widely, nodes, and algorithm containers (``task``: theirs) of unfinished tasks."""
    if p.is_user and not p.scopes("task", CREATE) & {Scope.GLOBAL, Scope.COLLABORATION}:
        raise PermissionDenied("Uploading blobs requires permission to create tasks")
    if p.is_container and (task is None or task.status not in UNFINISHED_STATUSES):
        raise PermissionDenied("Cannot upload a blob for a task that has finished")
