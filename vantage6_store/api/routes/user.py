"""``/user``: users of whitelisted servers registered in this store, and their roles."""

from __future__ import annotations

import httpx
from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_store import rbac
from vantage6_store.api import serialize
from vantage6_store.api.deps import AuthCaller, Ctx, Db, needs
from vantage6_store.api.routes.algorithm import flag
from vantage6_store.api.schemas import UserIn, UserPatch
from vantage6_store.db import models as m
from vantage6_store.errors import ApiError, bad_request, not_found
from vantage6_store.identity import Caller

router = APIRouter(tags=["User"])


def _reviewer_ids(session) -> list[int]:
    held = (
        select(m.user_role.c.user_id)
        .join(m.role_rule, m.role_rule.c.role_id == m.user_role.c.role_id)
        .join(m.Rule, m.Rule.id == m.role_rule.c.rule_id)
        .where(m.Rule.name == "review", m.Rule.operation == rbac.EDIT)
    )
    return list(session.scalars(held))


@router.get("/user", summary="List registered users")
def list_users(
    request: Request,
    session: Db,
    username: str | None = None,
    role_id: int | None = None,
    v6_server_id: int | None = None,
    reviewers_for_algorithm_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
    user=needs("user", rbac.VIEW),
):
    stmt = select(m.StoreUser)
    if username is not None:
        stmt = stmt.where(m.StoreUser.username.like(username))
    if v6_server_id is not None:
        stmt = stmt.where(m.StoreUser.v6_server_id == v6_server_id)
    if role_id is not None:
        if session.get(m.Role, role_id) is None:
            raise bad_request(f"Role with id={role_id} does not exist!")
        stmt = stmt.where(
            m.StoreUser.id.in_(
                select(m.user_role.c.user_id).where(m.user_role.c.role_id == role_id)
            )
        )
    if "can_review" in request.query_params:
        reviewers = _reviewer_ids(session)
        can = flag(request.query_params["can_review"])
        stmt = stmt.where(
            m.StoreUser.id.in_(reviewers) if can else m.StoreUser.id.not_in(reviewers)
        )
    if reviewers_for_algorithm_id is not None:
        algorithm = session.get(m.Algorithm, reviewers_for_algorithm_id)
        if algorithm is None:
            raise bad_request(f"Algorithm with id={reviewers_for_algorithm_id} does not exist!")
        stmt = stmt.where(
            m.StoreUser.id.in_(_reviewer_ids(session)),
            m.StoreUser.id != (algorithm.developer_id or 0),
        )
    return page_response(
        request,
        session,
        stmt,
        serialize.user,
        default_order=[m.StoreUser.id],
        page=page,
        per_page=per_page,
    )


def _get(session, id: int) -> m.StoreUser:
    user = session.get(m.StoreUser, id)
    if user is None:
        raise not_found("User", id)
    return user


def _roles(session, ids: list[int]) -> list[m.Role]:
    roles = []
    for role_id in dict.fromkeys(ids):
        role = session.get(m.Role, role_id)
        if role is None:
            raise bad_request(f"Role id={role_id} not found")
        roles.append(role)
    return roles


def lookup_on_server(caller: Caller, username: str, timeout: float) -> dict:
    """The user's record at the caller's vantage6 server (``GET /user?username=``)."""
    try:
        response = httpx.get(
            f"{caller.server.url}/user",
            params={"username": username},
            headers={"Authorization": caller.authorization},
            timeout=timeout,
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad host name
        raise ApiError(502, f"Could not reach the vantage6 server: {exc}") from exc
    matches = []
    if response.status_code == 200:
        try:
            matches = [u for u in response.json().get("data", []) if u.get("username") == username]
        except (ValueError, AttributeError):
            matches = []
    if len(matches) != 1:
        raise bad_request(f"User '{username}' not found in the vantage6 server.")
    return matches[0]


@router.get("/user/{id}", summary="View a registered user")
def get_user(id: int, session: Db, user=needs("user", rbac.VIEW)) -> dict:
    return serialize.user(_get(session, id))


@router.post("/user", status_code=201, summary="Register a user of your vantage6 server")
def register_user(
    body: UserIn,
    ctx: Ctx,
    session: Db,
    caller: AuthCaller,
    user=needs("user", rbac.CREATE),
) -> dict:
    server = caller.server
    exists = session.scalars(
        select(m.StoreUser).where(
            m.StoreUser.username == body.username, m.StoreUser.v6_server_id == server.id
        )
    ).first()
    if exists is not None:
        raise bad_request("User already registered.")
    roles = _roles(session, body.roles)
    rbac.guard_escalation(user, [rule for role in roles for rule in role.rules])
    record = lookup_on_server(caller, body.username, ctx.settings.server_timeout)
    organization = record.get("organization") or {}
    new = m.StoreUser(
        username=body.username,
        email=record.get("email"),
        organization_id=organization.get("id") if isinstance(organization, dict) else None,
        server=server,
        roles=roles,
    )
    session.add(new)
    session.commit()
    return serialize.user(new)


@router.patch("/user/{id}", summary="Change a registered user's roles or email")
def edit_user(
    id: int,
    body: UserPatch,
    ctx: Ctx,
    session: Db,
    caller: AuthCaller,
    user=needs("user", rbac.EDIT),
) -> dict:
    target = _get(session, id)
    if body.email is not None:
        target.email = body.email
    elif body.update_email:
        target.email = lookup_on_server(caller, target.username, ctx.settings.server_timeout).get(
            "email"
        )
    if body.organization_id is not None and target.organization_id is None:
        target.organization_id = body.organization_id
    if body.roles is not None:
        roles = _roles(session, body.roles)
        if target.id == user.id:
            raise ApiError(401, "You can't change your own roles!")
        changed = set(roles) ^ set(target.roles)
        rbac.guard_escalation(user, [rule for role in changed for rule in role.rules])
        target.roles = roles
    session.commit()
    return serialize.user(target)


@router.delete("/user/{id}", summary="Remove a user's registration")
def delete_user(id: int, session: Db, user=needs("user", rbac.DELETE)) -> dict:
    session.delete(_get(session, id))
    session.commit()
    return {"msg": f"user id={id} is removed from the database"}
