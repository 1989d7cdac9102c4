"""Who is calling, what rules they hold, and which organizations/collaborations they see."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import select, union
from sqlalchemy.orm import Session

from vantage6_server.db import models as m
from vantage6_server.rbac.catalog import (
    CONTAINER_RULE_KEYS,
    NODE_RULE_KEYS,
    Operation,
    RuleKey,
    Scope,
)

_SCOPES_WIDEST_FIRST = (Scope.GLOBAL, Scope.COLLABORATION, Scope.ORGANIZATION, Scope.OWN)


@dataclass
class Principal:
    """An authenticated user, node or algorithm container."""

    kind: str  # "user" | "node" | "container"
    id: int  # user id, node id, or the container's task id
    organization_id: int
    session: Session
    rule_keys: frozenset[RuleKey] = field(default_factory=frozenset)
    collaboration_id: int | None = None  # nodes and containers belong to one collaboration
    container: dict[str, Any] | None = None

    @property
    def is_user(self) -> bool:
        return self.kind == "user"

    @property
    def is_node(self) -> bool:
        return self.kind == "node"

    @property
    def is_container(self) -> bool:
        return self.kind == "container"

    def has(self, resource: str, scope: Scope, operation: Operation) -> bool:
        return (resource, scope.value, operation.value) in self.rule_keys

    def scope(self, resource: str, operation: Operation) -> Scope | None:
        """The widest scope the principal holds for this resource and operation."""
        for scope in _SCOPES_WIDEST_FIRST:
            if self.has(resource, scope, operation):
                return scope
        return None

    def scopes(self, resource: str, operation: Operation) -> set[Scope]:
        return {s for s in _SCOPES_WIDEST_FIRST if self.has(resource, s, operation)}

    @cached_property
    def collaboration_ids(self) -> set[int]:
        """Collaborations this principal belongs to."""
        if self.collaboration_id is not None:
            return {self.collaboration_id}
        rows = self.session.scalars(
            select(m.collaboration_organization.c.collaboration_id).where(
                m.collaboration_organization.c.organization_id == self.organization_id
            )
        )
        return set(rows)

    @cached_property
    def collaboration_organization_ids(self) -> set[int]:
        """Organizations sharing a collaboration with this principal (own one included)."""
        ids = {self.organization_id}
        if self.collaboration_ids:
            rows = self.session.scalars(
                select(m.collaboration_organization.c.organization_id).where(
                    m.collaboration_organization.c.collaboration_id.in_(self.collaboration_ids)
                )
            )
            ids.update(rows)
        return ids


def user_rule_keys(session: Session, user_id: int) -> frozenset[RuleKey]:
    """The (resource, scope, operation) keys of a user's roles and own rules.

    One query on the association tables that returns plain rows: loading the user's roles and
    rules as ORM objects took most of the time of a user's authenticated request.
    """
    via_roles = (
        select(m.role_rule.c.rule_id)
        .join(m.user_role, m.user_role.c.role_id == m.role_rule.c.role_id)
        .where(m.user_role.c.user_id == user_id)
    )
    own = select(m.user_rule.c.rule_id).where(m.user_rule.c.user_id == user_id)
    rows = session.execute(
        select(m.Rule.name, m.Rule.scope, m.Rule.operation).where(
            m.Rule.id.in_(union(via_roles, own))
        )
    )
    return frozenset((name, scope, operation) for name, scope, operation in rows)


def node_principal(node: m.Node, session: Session) -> Principal:
    return Principal(
        kind="node",
        id=node.id,
        organization_id=node.organization_id,
        session=session,
        rule_keys=NODE_RULE_KEYS,
        collaboration_id=node.collaboration_id,
    )


def container_principal(identity: dict[str, Any], session: Session) -> Principal:
    return Principal(
        kind="container",
        id=int(identity["task_id"]),
        organization_id=int(identity["organization_id"]),
        session=session,
        rule_keys=CONTAINER_RULE_KEYS,
        collaboration_id=int(identity["collaboration_id"]),
        container=identity,
    )
