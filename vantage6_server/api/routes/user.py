"""/user: accounts, their roles and extra rules, with the escalation guard."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import EmailStr, Field
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import Body, get_or_404, parse_bool
from vantage6_server.api.deps import Ctx, Db, UserAuth
from vantage6_server.api.errors import bad_request
from vantage6_server.api.schemas import Message, User, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy
from vantage6_server.rbac.catalog import Operation
from vantage6_server.rbac.guard import check_can_grant, check_can_revoke
from vantage6_server.security.passwords import hash_password, password_problems

router = APIRouter(tags=["User"])
SORTABLE = {
    "id": m.User.id,
    "username": m.User.username,
    "email": m.User.email,
    "firstname": m.User.firstname,
    "lastname": m.User.lastname,
}


class UserIn(Body):
    username: str = Field(min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_.@+-]+$")
    email: EmailStr
    password: str = Field(min_length=1, max_length=1024)
    firstname: str | None = Field(None, max_length=128)
    lastname: str | None = Field(None, max_length=128)
    organization_id: int | None = Field(None, ge=1)
    roles: list[int] = Field(default_factory=list, max_length=1000)
    rules: list[int] = Field(default_factory=list, max_length=1000)


class UserPatch(Body):
    username: str | None = Field(None, min_length=3, max_length=128, pattern=r"^[A-Za-z0-9_.@+-]+$")
    email: EmailStr | None = None
    firstname: str | None = Field(None, max_length=128)
    lastname: str | None = Field(None, max_length=128)
    roles: list[int] | None = Field(None, max_length=1000)
    rules: list[int] | None = Field(None, max_length=1000)


def _load(session, model, ids: list[int], label: str):
    objs = session.scalars(select(model).where(model.id.in_(ids))).all() if ids else []
    missing = set(ids) - {o.id for o in objs}
    if missing:
        raise bad_request(f"Unknown {label} ids", {label: [f"unknown: {sorted(missing)}"]})
    return list(objs)


def _check_roles_fit(roles: list[m.Role], organization_id: int) -> None:
    for role in roles:
        if role.organization_id not in (None, organization_id):
            raise bad_request(f"Role id={role.id} belongs to another organization")


def _unique(session, column, value, user_id: int | None, label: str) -> None:
    stmt = select(m.User.id).where(column == value)
    if user_id is not None:
        stmt = stmt.where(m.User.id != user_id)
    if session.scalar(stmt):
        raise bad_request(f"A user with that {label} already exists", {label: ["already taken"]})


@router.get("/user", summary="List users", **page_of(User))
def list_users(
    request: Request,
    principal: UserAuth,
    session: Db,
    username: str | None = None,
    organization_id: int | None = None,
    collaboration_id: int | None = None,
    firstname: str | None = None,
    lastname: str | None = None,
    email: str | None = None,
    role_id: int | None = None,
    rule_id: int | None = None,
    include_permissions: str | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = policy.visible(principal, "user", select(m.User))
    for column, value in (
        (m.User.username, username),
        (m.User.firstname, firstname),
        (m.User.lastname, lastname),
        (m.User.email, email),
    ):
        if value:
            stmt = stmt.where(column.like(value))
    if organization_id is not None:
        stmt = stmt.where(m.User.organization_id == organization_id)
    if collaboration_id is not None:
        members = select(m.collaboration_organization.c.organization_id).where(
            m.collaboration_organization.c.collaboration_id == collaboration_id
        )
        stmt = stmt.where(m.User.organization_id.in_(members))
    if role_id is not None:
        stmt = stmt.where(m.User.roles.any(m.Role.id == role_id))
    if rule_id is not None:
        stmt = stmt.where(m.User.rules.any(m.Rule.id == rule_id))
    with_perm = bool(parse_bool(include_permissions))
    return page_response(
        request,
        session,
        stmt,
        lambda u: serialize.user(u, with_perm),
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.User.id],
    )


@router.get("/user/{id}", summary="View a user", **answers(User))
def get_user(
    id: int, principal: UserAuth, session: Db, include_permissions: str | None = None
) -> dict:
    target = get_or_404(session, m.User, id, "User")
    policy.ensure(principal, Operation.VIEW, "user", target)
    return serialize.user(target, bool(parse_bool(include_permissions)))


@router.post("/user", status_code=201, summary="Create a user", **answers(User, 201))
def create_user(body: UserIn, principal: UserAuth, session: Db) -> dict:
    org_id = body.organization_id or principal.organization_id
    get_or_404(session, m.Organization, org_id, "Organization")
    policy.ensure(principal, Operation.CREATE, "user", policy.target(organization_id=org_id))
    problems = password_problems(body.password)
    if problems:
        raise bad_request("Password is not strong enough", {"password": problems})
    _unique(session, m.User.username, body.username, None, "username")
    _unique(session, m.User.email, str(body.email), None, "email")
    roles = _load(session, m.Role, body.roles, "roles")
    rules = _load(session, m.Rule, body.rules, "rules")
    _check_roles_fit(roles, org_id)
    check_can_grant(principal, roles, rules)
    user = m.User(
        username=body.username,
        email=str(body.email),
        firstname=body.firstname,
        lastname=body.lastname,
        password_hash=hash_password(body.password),
        organization_id=org_id,
        roles=roles,
        rules=rules,
    )
    session.add(user)
    session.commit()
    return serialize.user(user)


@router.patch("/user/{id}", summary="Edit a user", **answers(User))
def patch_user(id: int, body: UserPatch, principal: UserAuth, session: Db) -> dict:
    target = get_or_404(session, m.User, id, "User")
    policy.ensure_user_change(principal, Operation.EDIT, target)
    changes = body.model_dump(exclude_unset=True)
    if changes.get("username") and changes["username"] != target.username:
        policy.ensure_rename(principal, target)
        _unique(session, m.User.username, changes["username"], id, "username")
        target.username = changes["username"]
    if changes.get("email"):
        _unique(session, m.User.email, str(changes["email"]), id, "email")
        target.email = str(changes["email"])
    for field in ("firstname", "lastname"):
        if field in changes:
            setattr(target, field, changes[field])
    if changes.get("roles") is not None:
        roles = _load(session, m.Role, changes["roles"], "roles")
        _check_roles_fit(roles, target.organization_id)
        added = [r for r in roles if r not in target.roles]
        removed = [r for r in target.roles if r not in roles]
        if target.id == principal.id and (added or removed):
            raise bad_request("You cannot change your own roles")
        check_can_grant(principal, added, [])
        check_can_revoke(principal, removed, [])
        target.roles = roles
    if changes.get("rules") is not None:
        rules = _load(session, m.Rule, changes["rules"], "rules")
        added = [r for r in rules if r not in target.rules]
        removed = [r for r in target.rules if r not in rules]
        if target.id == principal.id and (added or removed):
            raise bad_request("You cannot change your own rules")
        check_can_grant(principal, [], added)
        check_can_revoke(principal, [], removed)
        target.rules = rules
    session.commit()
    return serialize.user(target)


@router.delete("/user/{id}", summary="Delete a user", **answers(Message))
def delete_user(
    id: int, principal: UserAuth, ctx: Ctx, session: Db, delete_dependents: str | None = None
) -> dict:
    target = get_or_404(session, m.User, id, "User")
    policy.ensure_user_change(principal, Operation.DELETE, target)
    has_tasks = session.scalar(select(m.Task.id).where(m.Task.init_user_id == id).limit(1))
    if has_tasks and not parse_bool(delete_dependents):
        raise bad_request("User has created tasks; add ?delete_dependents=true to delete anyway")
    session.delete(target)
    session.commit()
    ctx.events.disconnect_users([id])
    return {"msg": f"User id={id} has been deleted"}


__all__ = ["router"]
