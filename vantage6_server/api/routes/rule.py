"""/rule: the fixed catalog of rules, readable by every user."""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_common.service.pagination import page_response
from vantage6_server import serialize
from vantage6_server.api.common import get_or_404
from vantage6_server.api.deps import Db, UserAuth
from vantage6_server.api.schemas import Rule, answers, page_of
from vantage6_server.db import models as m
from vantage6_server.rbac import policy

router = APIRouter(tags=["Rule"])
SHORT_OPERATIONS = {
    "v": "view",
    "e": "edit",
    "c": "create",
    "d": "delete",
    "s": "send",
    "r": "receive",
}
SHORT_SCOPES = {"own": "own", "org": "organization", "col": "collaboration", "glo": "global"}
SORTABLE = {
    "id": m.Rule.id,
    "name": m.Rule.name,
    "operation": m.Rule.operation,
    "scope": m.Rule.scope,
}


def _normalize(value: str, short: dict[str, str]) -> str:
    value = value.strip().lower()
    return short.get(value, value)


@router.get("/rule", summary="List rules", **page_of(Rule))
def list_rules(
    request: Request,
    principal: UserAuth,
    session: Db,
    name: str | None = None,
    operation: str | None = None,
    scope: str | None = None,
    role_id: int | None = None,
    user_id: int | None = None,
    page: int = 1,
    per_page: int = 10,
    sort: str | None = None,
):
    stmt = select(m.Rule)
    if name:
        stmt = stmt.where(m.Rule.name == name)
    if operation:
        stmt = stmt.where(m.Rule.operation == _normalize(operation, SHORT_OPERATIONS))
    if scope:
        stmt = stmt.where(m.Rule.scope == _normalize(scope, SHORT_SCOPES))
    # the rules of a role or user only when the caller may see that role or user
    if role_id is not None:
        role = policy.visible_ids(principal, "role", m.Role.id).where(m.Role.id == role_id)
        stmt = stmt.where(
            m.Rule.id.in_(select(m.role_rule.c.rule_id).where(m.role_rule.c.role_id.in_(role)))
        )
    if user_id is not None:
        user = policy.visible_ids(principal, "user", m.User.id).where(m.User.id == user_id)
        direct = select(m.user_rule.c.rule_id).where(m.user_rule.c.user_id.in_(user))
        via_roles = (
            select(m.role_rule.c.rule_id)
            .join(m.user_role, m.user_role.c.role_id == m.role_rule.c.role_id)
            .where(m.user_role.c.user_id.in_(user))
        )
        stmt = stmt.where(m.Rule.id.in_(direct) | m.Rule.id.in_(via_roles))
    return page_response(
        request,
        session,
        stmt,
        serialize.rule,
        page=page,
        per_page=per_page,
        sort_columns=SORTABLE,
        sort=sort,
        default_order=[m.Rule.id],
    )


@router.get("/rule/{id}", summary="View a rule", **answers(Rule))
def get_rule(id: int, principal: UserAuth, session: Db) -> dict:
    return serialize.rule(get_or_404(session, m.Rule, id, "Rule"))
