"""/role: roles bundle rules; default roles are read-only."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from pydantic import Field
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, get_or_404, parse_bool, require
from vantage6_server.api.deps import Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Message, Role, Rule, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.rbac.guard import check_can_grant, check_can_revoke

router = APIRouter(tags=["Role"])
SORTABLE = {"id": m.Role.id, "name": m.Role.name}


class RoleIn(Body):
    multiline_fields = frozenset({"description"})
    name: str = Field(min_length=1, max_length=128)
    description: str | None = Field(None, max_length=512)
    rules: list[int] = Field(default_factory=list, max_length=1000)
    organization_id: int | None = Field(None, ge=1)


class RolePatch(Body):
    multiline_fields = frozenset({"description"})
    name: str | None = Field(None, min_length=1, max_length=128)
    description: str | None = Field(None, max_length=512)
    rules: list[int] | None = Field(None, max_length=1000)


def _rules(session, ids: list[int]) -> list[m.Rule]:
    rules = session.scalars(select(m.Rule).where(m.Rule.id.in_(ids))).all() if ids else []
    missing = set(ids) - {r.id for r in rules}
    if missing:
        raise bad_request("Unknown rule ids", {"rules": [f"unknown: {sorted(missing)}"]})
    return list(rules)


def _editable(role: m.Role) -> None:
    if role.organization_id is None:
        raise bad_request("Default roles cannot be changed or deleted")


@router.get("/role", summary="List roles", **page_of(Role))
def list_roles(
    request: Request,
    principal: UserAuth,
    session: Db,
    name: str | None = None,
    description: str | None = None,
    organization_id: list[int] | None = Query(None),
    rule_id: int | None = None,
    user_id: int | None = None,
    include_root: str | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = policy.visible(principal, "role", select(m.Role))
    if name:
        stmt = stmt.where(m.Role.name.like(name))
    if description:
        stmt = stmt.where(m.Role.description.like(description))
    if organization_id:
        stmt = stmt.where(m.Role.organization_id.in_(organization_id))
    if rule_id is not None:
        stmt = stmt.where(m.Role.rules.any(m.Rule.id == rule_id))
    if user_id is not None:  # only the roles of a user the caller may see
        user = policy.visible_ids(principal, "user", m.User.id).where(m.User.id == user_id)
        stmt = stmt.where(
            m.Role.id.in_(select(m.user_role.c.role_id).where(m.user_role.c.user_id.in_(user)))
        )
    if include_root is not None and not parse_bool(include_root):
        stmt = stmt.where(m.Role.name != "Root")
    return page_response(
        request,
        session,
        stmt,
        serialize.role,
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Role.id],
    )


@router.get("/role/{id}", summary="View a role", **answers(Role))
def get_role(id: int, principal: UserAuth, session: Db) -> dict:
    role = get_or_404(session, m.Role, id, "Role")
    require(policy.may_view_role(principal, role))
    return serialize.role(role)


@router.post("/role", status_code=201, summary="Create a role", **answers(Role, 201))
def create_role(body: RoleIn, principal: UserAuth, session: Db) -> dict:
    org_id = body.organization_id or principal.organization_id
    get_or_404(session, m.Organization, org_id, "Organization")
    policy.ensure(principal, Operation.CREATE, "role", policy.target(organization_id=org_id))
    rules = _rules(session, body.rules)
    check_can_grant(principal, [], rules)
    role = m.Role(name=body.name, description=body.description, organization_id=org_id, rules=rules)
    session.add(role)
    session.commit()
    return serialize.role(role)


@router.patch("/role/{id}", summary="Edit a role", **answers(Role))
def patch_role(id: int, body: RolePatch, principal: UserAuth, session: Db) -> dict:
    role = get_or_404(session, m.Role, id, "Role")
    policy.ensure(principal, Operation.EDIT, "role", role)
    _editable(role)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("name"):
        role.name = changes["name"]
    if "description" in changes:
        role.description = changes["description"]
    if changes.get("rules") is not None:
        rules = _rules(session, changes["rules"])
        check_can_grant(principal, [], [r for r in rules if r not in role.rules])
        check_can_revoke(principal, [], [r for r in role.rules if r not in rules])
        role.rules = rules
    session.commit()
    return serialize.role(role)


@router.delete("/role/{id}", summary="Delete a role", **answers(Message))
def delete_role(
    id: int, principal: UserAuth, session: Db, delete_dependents: str | None = None
) -> dict:
    role = get_or_404(session, m.Role, id, "Role")
    policy.ensure(principal, Operation.DELETE, "role", role)
    _editable(role)
    if role.users and not parse_bool(delete_dependents):
        raise bad_request("Role is assigned to users; add ?delete_dependents=true to delete it")
    check_can_revoke(principal, [role], [])
    session.delete(role)
    session.commit()
    return {"msg": f"Role id={id} has been deleted"}


@router.post(
    "/role/{id}/rule/{rule_id}",
    status_code=201,
    summary="Add a rule to a role",
    **answers(list[Rule], 201),
)
def add_rule(id: int, rule_id: int, principal: UserAuth, session: Db) -> list[dict]:
    role = get_or_404(session, m.Role, id, "Role")
    rule = get_or_404(session, m.Rule, rule_id, "Rule")
    policy.ensure(principal, Operation.EDIT, "role", role)
    _editable(role)
    check_can_grant(principal, [], [rule])
    if rule not in role.rules:
        role.rules.append(rule)
        session.commit()
    return [serialize.rule(r) for r in role.rules]


@router.delete(
    "/role/{id}/rule/{rule_id}", summary="Remove a rule from a role", **answers(list[Rule])
)
def remove_rule(id: int, rule_id: int, principal: UserAuth, session: Db) -> list[dict]:
    role = get_or_404(session, m.Role, id, "Role")
    rule = get_or_404(session, m.Rule, rule_id, "Rule")
    policy.ensure(principal, Operation.EDIT, "role", role)
    _editable(role)
    if rule not in role.rules:
        raise bad_request(f"Rule id={rule_id} is not part of role id={id}")
    check_can_revoke(principal, [], [rule])
    role.rules.remove(rule)
    session.commit()
    return [serialize.rule(r) for r in role.rules]
