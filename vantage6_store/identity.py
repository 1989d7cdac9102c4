"""Who is calling: a user of a whitelisted vantage6 server, checked with that server.

The published client sends the server's API address in a ``server_url`` header (vantage6's
store 4.x reads it as ``Server-Url``; under WSGI both spellings are the same header, under
ASGI they are not, so both are accepted here) and its own server's bearer token. The store
asks that server ``POST {server_url}/token/user/validate`` with the same Authorization
header; a 200 answer names the user (``username``, ``email``, ``organization_id``).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select
from sqlalchemy.orm import Session

from vantage6_store.db import models as m
from vantage6_store.errors import ApiError

SERVER_URL_HEADERS = ("server-url", "server_url")


@dataclass(frozen=True)
class Caller:
    """A validated vantage6 user, and their store registration if they have one."""

    server: m.Vantage6Server
    username: str
    email: str | None
    organization_id: int | None
    authorization: str
    user: m.StoreUser | None


def server_url_of(headers) -> str | None:
    for name in SERVER_URL_HEADERS:
        value = headers.get(name)
        if value:
            return value.rstrip("/")
    return None


def whitelisted_server(session: Session, url: str) -> m.Vantage6Server | None:
    return session.scalars(select(m.Vantage6Server).where(m.Vantage6Server.url == url)).first()


def validate_with_server(url: str, authorization: str, timeout: float) -> httpx.Response:
    """Ask the vantage6 server at ``url`` whether the token is one of its users'."""
    try:
        return httpx.post(
            f"{url}/token/user/validate", headers={"Authorization": authorization}, timeout=timeout
        )
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad host name
        raise ApiError(502, f"Could not reach the vantage6 server at {url}: {exc}") from exc


def authenticate(session: Session, headers, timeout: float) -> Caller:
    """The validated caller, or an ``ApiError`` saying what is missing or wrong."""
    url = server_url_of(headers)
    if not url:
        raise ApiError(400, "Missing Server-Url header")
    authorization = headers.get("authorization")
    if not authorization:
        raise ApiError(401, "Missing Authorization header")
    server = whitelisted_server(session, url)
    if server is None:
        raise ApiError(
            403, f"Server '{url}' you are trying to authenticate with is not whitelisted"
        )
    response = validate_with_server(url, authorization, timeout)
    if response.status_code == 404:
        raise ApiError(400, "Could not connect to the vantage6 server. Check the server URL.")
    if response.status_code != 200:
        raise ApiError(401, "Token is not valid")
    try:
        body = response.json()
        username = str(body["username"])
    except (ValueError, KeyError, TypeError) as exc:
        raise ApiError(502, "The vantage6 server's answer did not name a user") from exc
    user = session.scalars(
        select(m.StoreUser).where(
            m.StoreUser.username == username, m.StoreUser.v6_server_id == server.id
        )
    ).first()
    org = body.get("organization_id")
    return Caller(
        server=server,
        username=username,
        email=body.get("email"),
        organization_id=org if isinstance(org, int) else None,
        authorization=authorization,
        user=user,
    )
