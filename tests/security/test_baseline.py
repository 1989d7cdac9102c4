"""Baseline trust checks with no test elsewhere: forged tokens on the Socket.IO link.

The REST side of the same forgeries is ``tests/server/test_bad_input.py::test_bad_credentials``.
"""

from __future__ import annotations

import datetime as dt

import jwt
import pytest
import socketio
from sqlalchemy import create_engine, text

from tests.api import Api
from tests.livestack import LiveServer, start_server


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def server(request):
    live, cleanup = start_server(request.param)
    yield live
    cleanup()


def _secret(server: LiveServer) -> str:
    uri = server.database_uri
    if uri.startswith("postgresql://"):
        uri = "postgresql+psycopg://" + uri.removeprefix("postgresql://")
    with create_engine(uri).connect() as conn:
        return conn.execute(
            text("SELECT value FROM server_setting WHERE key = 'jwt_secret'")
        ).scalar_one()


def _root_token(secret: str | None, alg: str = "HS256", *, key: str, **claims) -> str:
    now = dt.datetime.now(dt.UTC)
    payload = {
        "key": key,  # the root user's token_key, as its real tokens carry it
        "iat": now,
        "nbf": now,
        "jti": "forged",
        "sub": 1,
        "client_type": "user",
        "type": "access",
        "ver": 0,
        "exp": now + dt.timedelta(minutes=10),
        **claims,
    }
    return jwt.encode(payload, secret, algorithm=alg)


def _connects(server: LiveServer, token: str) -> bool:
    sio = socketio.Client(reconnection=False)
    try:
        sio.connect(
            server.url,
            namespaces=["/tasks"],
            headers={"Authorization": f"Bearer {token}"},
            wait_timeout=10,
        )
    except socketio.exceptions.ConnectionError:
        return False
    sio.disconnect()
    return True


def test_socketio_refuses_forged_tokens(server: LiveServer):
    """A real root token connects; the same claims unsigned (``alg: none``), signed with
    another key or another algorithm, expired, or as a refresh token do not."""
    secret = _secret(server)
    real = Api.as_user(server.api_url, server.root_username, server.root_password).token
    key = jwt.decode(real, options={"verify_signature": False})["key"]
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    assert _connects(server, _root_token(secret, key=key)), (
        "the forging is right: valid claims connect"
    )
    forged = {
        "alg none": _root_token(None, key=key, alg="none"),
        "wrong key": _root_token("not-the-server-secret-" * 3, key=key),
        "HS512 with the right key": _root_token(secret, key=key, alg="HS512"),
        "expired": _root_token(
            secret, key=key, iat=past, nbf=past, exp=past + dt.timedelta(hours=1)
        ),
        "refresh token": _root_token(secret, key=key, type="refresh"),
        "stale token version": _root_token(secret, key=key, ver=7),
    }
    connected = [name for name, token in forged.items() if _connects(server, token)]
    assert connected == []
