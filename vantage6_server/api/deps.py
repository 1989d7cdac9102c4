"""FastAPI dependencies: database session, server context and the calling principal."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from vantage6_common.status import UNFINISHED_STATUSES
from vantage6_server.api.errors import ApiError, forbidden, unauthorized
from vantage6_server.context import ServerContext
from vantage6_server.db import models as m
from vantage6_server.rbac import user_cache
from vantage6_server.rbac.principal import (
    Principal,
    container_principal,
    node_principal,
    user_rule_keys,
)
from vantage6_server.rbac.user_cache import UserState
from vantage6_server.security.tokens import TokenError, key_matches


# The trivial dependencies are ``async def`` so that FastAPI does not send each of them
# through its thread pool; only the endpoint and the principal lookup (database work) go there.
async def get_ctx(request: Request) -> ServerContext:
    return request.app.state.ctx


async def get_session(request: Request) -> AsyncIterator[Session]:
    session = request.app.state.ctx.db.sessionmaker()
    try:
        yield session
    finally:
        session.close()


Ctx = Annotated[ServerContext, Depends(get_ctx)]
Db = Annotated[Session, Depends(get_session)]


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise unauthorized("Missing Authorization: Bearer header")
    return token.strip()


# Core (table) columns: the statement skips the ORM's compile and loading steps; built once,
# so that SQLAlchemy finds its compiled form without walking it again on every request.
_USER = m.User.__table__
_USER_TOKEN_STATE = select(_USER.c.organization_id, _USER.c.token_version, _USER.c.token_key).where(
    _USER.c.id == bindparam("user_id")
)


def _read_user(session: Session, user_id: int) -> UserState | None:
    row = session.execute(_USER_TOKEN_STATE, {"user_id": user_id}).one_or_none()
    if row is None:
        return None
    return UserState(
        organization_id=row.organization_id,
        token_version=row.token_version,
        token_key=row.token_key,
        rule_keys=user_rule_keys(session, user_id),
    )


def _user_principal(
    claims: dict, user_id: int, state: UserState | None, session: Session
) -> Principal | None:
    """The user's principal when the token is still the user's (else None)."""
    if (
        state is None
        or claims.get("ver", 0) != state.token_version
        or not key_matches(claims, state.token_key)
    ):
        return None
    return Principal(
        kind="user",
        id=user_id,
        organization_id=state.organization_id,
        session=session,
        rule_keys=state.rule_keys,
    )


def _cached_principal(claims: dict, session: Session) -> Principal | None:
    """A user's principal from the user cache alone (no database), when it holds the user."""
    cache = user_cache.cache_of(session)
    if cache is None or claims.get("client_type") != "user":
        return None
    try:
        user_id = int(claims["sub"])
    except (KeyError, TypeError, ValueError):
        return None
    return _user_principal(claims, user_id, cache.peek(user_id), session)


def principal_from_claims(claims: dict, session: Session) -> Principal:
    """Turn verified access-token claims into a principal, checking it still exists.

    The ``key`` claim must be the subject row's ``token_key``: a token outlives neither its
    subject nor a revocation, even if another row gets the subject's id.
    """
    kind = claims.get("client_type")
    if kind == "user":
        user_id = _int(claims["sub"])
        taken = user_cache.ticket(session)  # before this session's first read
        state = user_cache.user_state(taken, user_id, lambda: _read_user(session, user_id))
        principal = _user_principal(claims, user_id, state, session)
        if principal is None:
            raise unauthorized("Token no longer valid")
        return principal
    if kind == "node":
        node = session.get(m.Node, _int(claims["sub"]))
        if node is None or not key_matches(claims, node.token_key):
            raise unauthorized("Token no longer valid")
        return node_principal(node, session)
    if kind == "container":
        identity = claims.get("sub")
        if not isinstance(identity, dict) or "task_id" not in identity:
            raise unauthorized("Invalid container token")
        task = session.get(m.Task, _int(identity["task_id"]))
        if (
            task is None
            or task.status not in UNFINISHED_STATUSES
            or not key_matches(claims, task.token_key)
        ):
            raise unauthorized("Container token expired: its task has ended")
        try:
            return container_principal(identity, session)
        except (KeyError, TypeError, ValueError) as exc:
            raise unauthorized("Invalid container token") from exc
    raise unauthorized("Unknown client type")


def _int(value) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as exc:
        raise unauthorized("Invalid token subject") from exc


async def get_principal(request: Request, ctx: Ctx, session: Db) -> Principal:
    """The caller. A user the user cache holds is answered here, in the event loop; any other
    caller is read from the database in the thread pool."""
    token = bearer_token(request)
    try:
        claims = ctx.tokens.decode(token)
    except TokenError as exc:
        raise unauthorized(str(exc)) from exc
    principal = _cached_principal(claims, session)
    if principal is not None:
        return principal
    return await run_in_threadpool(principal_from_claims, claims, session)


Auth = Annotated[Principal, Depends(get_principal)]


async def require_user(principal: Auth) -> Principal:
    if not principal.is_user:
        raise forbidden("Only users can do this")
    return principal


async def require_node(principal: Auth) -> Principal:
    if not principal.is_node:
        raise forbidden("Only nodes can do this")
    return principal


UserAuth = Annotated[Principal, Depends(require_user)]
NodeAuth = Annotated[Principal, Depends(require_node)]

__all__ = ["ApiError", "Auth", "Ctx", "Db", "NodeAuth", "UserAuth"]
