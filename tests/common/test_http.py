"""TokenAuth: renewal before expiry, after a 401, login as the fallback, one renewal for many
concurrent requests. A token server in an ``httpx.MockTransport`` gives tokens that live two
seconds, which a real server cannot (its shortest lifetime is a minute)."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from tests.common.token_server import API, TokenServer, make_token
from vantage6_common.http import TokenAuth, TokenRefused


def _node_auth() -> TokenAuth:
    return TokenAuth(
        f"{API}/token/refresh", login_url=f"{API}/token/node", login_body={"api_key": "good"}
    )


def test_logs_in_then_refreshes_before_expiry():
    server = TokenServer(lifetime=2.0)
    auth = _node_auth()
    with httpx.Client(transport=server.transport(), auth=auth) as client:
        assert client.get(f"{API}/run").status_code == 200
        assert server.logins == 1 and server.refreshes == 0
        time.sleep(1.7)  # within the last fifth of the token's life
        assert client.get(f"{API}/run").status_code == 200
    assert server.refreshes == 1 and server.seen.count("/api/run") == 2  # no 401 on the way


def test_a_refused_token_is_renewed_and_the_request_sent_again():
    server = TokenServer()
    auth = _node_auth()
    refused: list[str] = []
    auth.listeners.append(refused.append)
    with httpx.Client(transport=server.transport(), auth=auth) as client:
        client.get(f"{API}/run")
        first = auth.access
        server.current = "something else"  # the server forgot our token
        assert client.get(f"{API}/run").status_code == 200
    assert refused == [first] and auth.access != first and server.refreshes == 1


def test_refused_refresh_falls_back_to_login_and_a_refused_login_raises():
    server = TokenServer()
    auth = _node_auth()
    with httpx.Client(transport=server.transport(), auth=auth) as client:
        auth.token(client)
        server.refuse_refresh = True
        auth.token(client, force=True)
        assert server.logins == 2
        auth.login_body = {"api_key": "bad"}
        with pytest.raises(TokenRefused) as info:
            auth.token(client, force=True)
    assert info.value.status_code == 401 and "Invalid API key" in str(info.value)
    assert auth.access is None


def test_a_server_in_trouble_keeps_the_tokens():
    server = TokenServer()
    auth = _node_auth()
    with httpx.Client(transport=server.transport(), auth=auth) as client:
        token = auth.token(client)
        server.unavailable = True
        with pytest.raises(TokenRefused) as info:
            auth.token(client, force=True)
        assert info.value.status_code == 503
        assert auth.access == token and auth.refresh  # no login attempt, nothing forgotten
        server.unavailable = False
        assert auth.token(client, force=True) != token
    assert server.logins == 1 and server.refreshes == 1


def test_without_a_way_to_renew_the_401_is_the_answer():
    server = TokenServer()
    auth = TokenAuth(f"{API}/token/refresh")
    auth.set_tokens({"access_token": make_token(60, 99)})
    with httpx.Client(transport=server.transport(), auth=auth) as client:
        assert client.get(f"{API}/run").status_code == 401
    assert server.seen == ["/api/run"]


def test_concurrent_requests_share_one_renewal():
    server = TokenServer()
    auth = _node_auth()

    async def scenario() -> list[int]:
        async with httpx.AsyncClient(transport=server.transport(), auth=auth) as client:
            await auth.atoken(client)
            server.current = "forgotten"
            answers = await asyncio.gather(*(client.get(f"{API}/run") for _ in range(8)))
            return [a.status_code for a in answers]

    assert asyncio.run(scenario()) == [200] * 8
    assert server.refreshes == 1 and server.logins == 1
