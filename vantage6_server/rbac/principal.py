"""Who is calling, what rules they hold, and which organizations/collaborations they see."""

from __future__ import annotations

import threading
import weakref
from collections.abc import Collection
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from sqlalchemy import Engine, bindparam, select, union
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


_ROLE_RULE, _USER_ROLE, _USER_RULE = m.role_rule, m.user_role, m.user_rule
_RULE = m.Rule.__table__
# Built once with a bound parameter: SQLAlchemy keeps a statement object's cache key, so the
# compiled SQL is found again without walking the statement on every request.
_USER_RULE_IDS = union(
    select(_ROLE_RULE.c.rule_id)
    .join(_USER_ROLE, _USER_ROLE.c.role_id == _ROLE_RULE.c.role_id)
    .where(_USER_ROLE.c.user_id == bindparam("user_id")),
    select(_USER_RULE.c.rule_id).where(_USER_RULE.c.user_id == bindparam("user_id")),
)


def user_rule_keys(session: Session, user_id: int) -> frozenset[RuleKey]:
    """The (resource, scope, operation) keys of a user's roles and own rules.

    One Core query for the ids of the rules (plain integer rows cost far less than ORM
    objects), turned into keys through ``rule_keys_by_id``.
    """
    ids = session.execute(_USER_RULE_IDS, {"user_id": user_id}).scalars().all()
    return rule_keys_by_id(session, ids)


# engine -> {rule id: key}. Rules are only ever inserted (at start-up, by the bootstrap) and
# never edited, and their ids are never reused, so an id names the same rule for good.
_RULE_NAMES: weakref.WeakKeyDictionary[Engine, dict[int, RuleKey]] = weakref.WeakKeyDictionary()
_RULE_NAMES_LOCK = threading.Lock()


def rule_keys_by_id(session: Session, ids: Collection[int]) -> frozenset[RuleKey]:
    """The keys of the rules with these ids (the rule table is read again for an unknown id)."""
    engine = session.get_bind()
    names = _RULE_NAMES.get(engine, {})
    try:
        return frozenset(names[i] for i in ids)
    except KeyError:
        pass
    rows = session.execute(select(_RULE.c.id, _RULE.c.name, _RULE.c.scope, _RULE.c.operation))
    names = {id_: (name, scope, operation) for id_, name, scope, operation in rows}
    with _RULE_NAMES_LOCK:
        _RULE_NAMES[engine] = names
    return frozenset(names[i] for i in ids if i in names)


def forget_rule_names(engine: Engine) -> None:
    """Drop the cached rule keys of a database (after the bootstrap wrote its rules)."""
    with _RULE_NAMES_LOCK:
        _RULE_NAMES.pop(engine, None)


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
