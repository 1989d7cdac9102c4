"""``/vantage6-server``: whitelisted vantage6 servers.

A user may whitelist their own server (proved by a token that server validates), when the
``allowed_servers`` policy lists it (or is unset) and, for loopback addresses, when
``allow_localhost`` is set and ``force`` is given. They become its Server Manager.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from sqlalchemy import select

from vantage6_store import policies, rbac
from vantage6_store.api import serialize
from vantage6_store.api.deps import AuthCaller, Ctx, Db, needs
from vantage6_store.api.schemas import ServerIn
from vantage6_store.db import models as m
from vantage6_store.errors import ApiError, bad_request, not_found
from vantage6_store.identity import server_url_of, validate_with_server, whitelisted_server

router = APIRouter(tags=["Vantage6 server"])


@router.get("/vantage6-server", summary="List whitelisted servers")
def list_servers(session: Db, caller: AuthCaller, url: str | None = None) -> list:
    stmt = select(m.Vantage6Server).order_by(m.Vantage6Server.id)
    if url is not None:
        stmt = stmt.where(m.Vantage6Server.url.like(url))
    return [serialize.server(s) for s in session.scalars(stmt)]


@router.get("/vantage6-server/{id}", summary="View a whitelisted server")
def get_server(id: int, session: Db, caller: AuthCaller) -> dict:
    server = session.get(m.Vantage6Server, id)
    if server is None:
        raise not_found("Vantage6 server", id)
    return serialize.server(server)


@router.post("/vantage6-server", status_code=201, summary="Whitelist your own vantage6 server")
def whitelist_server(body: ServerIn, request: Request, ctx: Ctx, session: Db) -> dict:
    rules = ctx.settings.policies
    url = body.url.rstrip("/")
    if rules.allowed_servers and url not in [s.rstrip("/") for s in rules.allowed_servers]:
        raise ApiError(403, "The administrator of this store does not allow this server.")
    if policies.is_localhost(url):
        if not rules.allow_localhost:
            raise ApiError(403, "Whitelisting localhost is not allowed in this store.")
        if not body.force:
            raise bad_request("Whitelisting a localhost server needs 'force': true.")
    authorization = request.headers.get("authorization")
    if not authorization:
        raise ApiError(401, "Missing Authorization header")
    response = validate_with_server(url, authorization, ctx.settings.server_timeout)
    if response.status_code != 200:
        raise ApiError(
            403, "You can only whitelist your own vantage6 server; it did not accept your token."
        )
    if whitelisted_server(session, url) is not None:
        raise ApiError(208, "This server is already whitelisted in this algorithm store.")
    try:
        who = response.json()
        username = str(who["username"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(502, "The vantage6 server's answer did not name a user") from exc
    server = m.Vantage6Server(url=url)
    org = who.get("organization_id")
    manager = m.StoreUser(
        username=username,
        email=who.get("email"),
        organization_id=org if isinstance(org, int) else None,
        server=server,
        roles=[rbac.default_role(session, rbac.SERVER_MANAGER)],
    )
    session.add_all([server, manager])
    session.commit()
    return serialize.server(server)


@router.delete("/vantage6-server/{id}", summary="Remove your own whitelisted server")
def delete_server(
    id: int,
    request: Request,
    session: Db,
    user=needs("vantage6_server", rbac.DELETE),
) -> dict:
    server = session.get(m.Vantage6Server, id)
    if server is None:
        raise not_found("Vantage6 server", id)
    if server.url != server_url_of(request.headers):
        raise ApiError(403, "You can only delete your own whitelisted vantage6 server")
    session.delete(server)
    session.commit()
    return {"msg": f"Server '{server.url}' was successfully deleted"}
