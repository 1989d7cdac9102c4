"""FastAPI dependencies: the database session, the validated caller and permission checks."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from vantage6_store import rbac
from vantage6_store.context import StoreContext
from vantage6_store.db import models as m
from vantage6_store.errors import ApiError
from vantage6_store.identity import Caller, authenticate


def get_ctx(request: Request) -> StoreContext:
    return request.app.state.ctx


Ctx = Annotated[StoreContext, Depends(get_ctx)]


def get_session(ctx: Ctx) -> Iterator[Session]:
    with ctx.db.session() as session:
        yield session


Db = Annotated[Session, Depends(get_session)]


def get_caller(request: Request, ctx: Ctx, session: Db) -> Caller:
    return authenticate(session, request.headers, ctx.settings.server_timeout)


AuthCaller = Annotated[Caller, Depends(get_caller)]


def registered(caller: Caller) -> m.StoreUser:
    """The caller's store registration, or 401 as vantage6's store 4.x answers."""
    if caller.user is None:
        raise ApiError(401, "You are not registered in this algorithm store")
    return caller.user


def needs(resource: str, operation: str):
    """A dependency: the registered caller, who must hold (resource, operation)."""

    def dependency(caller: AuthCaller) -> m.StoreUser:
        user = registered(caller)
        rbac.require(user, resource, operation)
        return user

    return Depends(dependency)
