"""``/role``: store roles; default roles are fixed, and nobody hands out rules they lack."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_store import rbac
from vantage6_store.api import serialize
from vantage6_store.api.deps import Db, needs
from vantage6_store.api.schemas import RoleIn, RolePatch
from vantage6_store.db import models as m
from vantage6_store.errors import ApiError, bad_request, not_found

router = APIRouter(tags=["Role"])


@router.get("/role", summary="List roles")
def list_roles(
    request: Request,
    session: Db,
    name: str | None = None,
    description: str | None = None,
    user_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
    user=needs("role", rbac.VIEW),
):
    stmt = select(m.Role)
    if name is not None:
        stmt = stmt.where(m.Role.name.like(name))
    if description is not None:
        stmt = stmt.where(m.Role.description.like(description))
    if user_id is not None:
        if session.get(m.StoreUser, user_id) is None:
            raise bad_request(f"User with id={user_id} does not exist!")
        stmt = stmt.where(
            m.Role.id.in_(select(m.user_role.c.role_id).where(m.user_role.c.user_id == user_id))
        )
    return page_response(
        request,
        session,
        stmt,
        serialize.role,
        default_order=[m.Role.id],
        page=page,
        per_page=per_page,
    )


def _get(session, id: int) -> m.Role:
    role = session.get(m.Role, id)
    if role is None:
        raise not_found("Role", id)
    return role


def _rules(session, ids: list[int]) -> list[m.Rule]:
    rules = []
    for rule_id in dict.fromkeys(ids):
        rule = session.get(m.Rule, rule_id)
        if rule is None:
            raise bad_request(f"Rule id={rule_id} not found")
        rules.append(rule)
    return rules


def _editable(role: m.Role) -> m.Role:
    if role.is_default_role:
        raise bad_request(f"Role '{role.name}' is a default role and cannot be changed")
    return role


def _unique_name(session, name: str, own_id: int | None) -> None:
    other = session.scalars(select(m.Role).where(m.Role.name == name)).first()
    if other is not None and other.id != own_id:
        raise bad_request(f"A role named '{name}' already exists")


@router.get("/role/{role_id}", summary="View a role")
def get_role(role_id: int, session: Db, user=needs("role", rbac.VIEW)) -> dict:
    return serialize.role(_get(session, role_id))


@router.post("/role", status_code=201, summary="Create a role")
def create_role(body: RoleIn, session: Db, user=needs("role", rbac.CREATE)) -> dict:
    _unique_name(session, body.name, None)
    rules = _rules(session, body.rules)
    rbac.guard_escalation(user, rules)
    role = m.Role(name=body.name, description=body.description, rules=rules)
    session.add(role)
    session.commit()
    return serialize.role(role)


@router.patch("/role/{role_id}", summary="Edit a role")
def edit_role(role_id: int, body: RolePatch, session: Db, user=needs("role", rbac.EDIT)) -> dict:
    role = _editable(_get(session, role_id))
    if body.name is not None:
        _unique_name(session, body.name, role.id)
        role.name = body.name
    if body.description is not None:
        role.description = body.description
    if body.rules is not None:
        rules = _rules(session, body.rules)
        changed = set(rules) ^ set(role.rules)
        rbac.guard_escalation(user, changed)
        role.rules = rules
    session.commit()
    return serialize.role(role)


@router.delete("/role/{role_id}", summary="Delete a role")
def delete_role(role_id: int, session: Db, user=needs("role", rbac.DELETE)) -> dict:
    role = _editable(_get(session, role_id))
    if role.users:
        raise ApiError(400, f"Role '{role.name}' is still given to {len(role.users)} user(s)")
    session.delete(role)
    session.commit()
    return {"msg": "Role removed from the database."}


@router.post("/role/{role_id}/rule/{rule_id}", status_code=201, summary="Add a rule to a role")
def add_rule(role_id: int, rule_id: int, session: Db, user=needs("role", rbac.EDIT)) -> list:
    role = _editable(_get(session, role_id))
    rule = _rules(session, [rule_id])[0]
    rbac.guard_escalation(user, [rule])
    if rule not in role.rules:
        role.rules.append(rule)
    session.commit()
    return [serialize.rule(r) for r in role.rules]


@router.delete("/role/{role_id}/rule/{rule_id}", summary="Remove a rule from a role")
def remove_rule(role_id: int, rule_id: int, session: Db, user=needs("role", rbac.EDIT)) -> list:
    role = _editable(_get(session, role_id))
    rule = _rules(session, [rule_id])[0]
    rbac.guard_escalation(user, [rule])
    if rule not in role.rules:
        raise not_found("Rule in this role", rule_id)
    role.rules.remove(rule)
    session.commit()
    return [serialize.rule(r) for r in role.rules]
