"""``/rule``: the store's rules (any user of a whitelisted server may read them)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_store.api import serialize
from vantage6_store.api.deps import AuthCaller, Db
from vantage6_store.db import models as m
from vantage6_store.errors import bad_request

router = APIRouter(tags=["Rule"])


@router.get("/rule", summary="List rules")
def list_rules(
    request: Request,
    session: Db,
    caller: AuthCaller,
    name: str | None = None,
    operation: str | None = None,
    role_id: int | None = None,
    username: str | None = None,
    server_url: str | None = None,
    page: int = 1,
    per_page: int = 10,
):
    stmt = select(m.Rule)
    if name is not None:
        stmt = stmt.where(m.Rule.name == name)
    if operation is not None:
        stmt = stmt.where(m.Rule.operation == operation)
    if role_id is not None:
        if session.get(m.Role, role_id) is None:
            raise bad_request(f"Role with id={role_id} does not exist!")
        stmt = stmt.where(
            m.Rule.id.in_(select(m.role_rule.c.rule_id).where(m.role_rule.c.role_id == role_id))
        )
    if bool(username) != bool(server_url):
        raise bad_request("Both username and server_url are required to filter by user!")
    if username and server_url:
        user = session.scalars(
            select(m.StoreUser)
            .join(m.Vantage6Server)
            .where(
                m.StoreUser.username == username,
                m.Vantage6Server.url == server_url.rstrip("/"),
            )
        ).first()
        if user is None:
            raise bad_request(
                f"User '{username}' of server '{server_url}' is not registered in this store"
            )
        held = (
            select(m.role_rule.c.rule_id)
            .join(m.user_role, m.user_role.c.role_id == m.role_rule.c.role_id)
            .where(m.user_role.c.user_id == user.id)
        )
        stmt = stmt.where(m.Rule.id.in_(held))
    return page_response(
        request,
        session,
        stmt,
        serialize.rule,
        default_order=[m.Rule.id],
        page=page,
        per_page=per_page,
    )
