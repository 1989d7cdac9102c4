"""Store rules and roles: the catalog, the default roles, checks and the escalation guard.

A rule is (resource, operation) without scopes (the store has no organizations of its own).
Nobody may hand out a rule they do not hold themselves: not through a new or edited role,
not by giving a user a role, not by taking a role away (vantage6's store 4.x does the same).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_store.db import models as m

VIEW, CREATE, EDIT, DELETE = "view", "create", "edit", "delete"
ALL_OPERATIONS = (VIEW, CREATE, EDIT, DELETE)

#: every rule the store knows, with a description
CATALOG: dict[tuple[str, str], str] = {
    **{("algorithm", op): f"{op.capitalize()} any algorithm" for op in ALL_OPERATIONS},
    ("review", VIEW): "View reviews",
    ("review", CREATE): "Assign reviewers to algorithms",
    ("review", EDIT): "Approve or reject the reviews assigned to you",
    ("review", DELETE): "Delete reviews",
    **{("user", op): f"{op.capitalize()} any registered user" for op in ALL_OPERATIONS},
    **{("role", op): f"{op.capitalize()} roles" for op in ALL_OPERATIONS},
    ("vantage6_server", DELETE): "Remove your own whitelisted vantage6 server",
}

ROOT = "Root"
SERVER_MANAGER = "Server Manager"
_VIEWER = [("algorithm", VIEW), ("user", VIEW), ("role", VIEW), ("review", VIEW)]
_REVIEWER = [*_VIEWER, ("review", EDIT)]
#: the default roles (names as in vantage6's store 4.x); they cannot be edited or deleted
DEFAULT_ROLES: dict[str, tuple[str, list[tuple[str, str]]]] = {
    ROOT: ("Super role", list(CATALOG)),
    "Viewer": ("Can view algorithm store resources", _VIEWER),
    "Reviewer": ("Can view resources and review algorithms", _REVIEWER),
    "Store Manager": (
        "Can view resources and manage users and roles",
        _VIEWER + [(r, op) for r in ("user", "role") for op in (CREATE, EDIT, DELETE)],
    ),
    "Algorithm Manager": (
        "Can view resources and manage algorithms and reviews",
        _REVIEWER
        + [("algorithm", op) for op in (CREATE, EDIT, DELETE)]
        + [("review", CREATE), ("review", DELETE)],
    ),
    "Developer": (
        "Can view resources and submit algorithms",
        _VIEWER + [("algorithm", CREATE), ("algorithm", EDIT)],
    ),
    SERVER_MANAGER: (
        "Can remove their own whitelisted vantage6 server (given when whitelisting it)",
        [("vantage6_server", DELETE)],
    ),
}


class PermissionDenied(Exception):
    """The caller lacks a rule; answered with 401 as the 4.x store does."""

    def __init__(self, msg: str) -> None:
        super().__init__(msg)
        self.msg = msg


def ensure_rules_and_roles(session: Session) -> None:
    """Create missing rules and default roles and give each default role its rules."""
    rules = {(r.name, r.operation): r for r in session.scalars(select(m.Rule))}
    for key, description in CATALOG.items():
        if key not in rules:
            rules[key] = m.Rule(name=key[0], operation=key[1], description=description)
            session.add(rules[key])
    roles = {r.name: r for r in session.scalars(select(m.Role))}
    for name, (description, keys) in DEFAULT_ROLES.items():
        role = roles.get(name)
        if role is None:
            role = m.Role(name=name, description=description, is_default_role=True)
            session.add(role)
        for key in keys:
            if rules[key] not in role.rules:
                role.rules.append(rules[key])
    session.commit()


def default_role(session: Session, name: str) -> m.Role:
    return session.scalars(select(m.Role).where(m.Role.name == name)).one()


def require(user: m.StoreUser, resource: str, operation: str) -> None:
    """Raise ``PermissionDenied`` unless ``user`` holds the rule."""
    if (resource, operation) not in user.rule_keys():
        raise PermissionDenied(
            f"You are not allowed to perform the operation '{operation}' on resource '{resource}'"
        )


def guard_escalation(user: m.StoreUser, rules: Iterable[m.Rule]) -> None:
    """Raise ``PermissionDenied`` when ``rules`` hold a rule ``user`` does not have."""
    held = user.rule_keys()
    for rule in rules:
        if (rule.name, rule.operation) not in held:
            raise PermissionDenied(f"You don't have the rule ({rule.name}, {rule.operation})")
