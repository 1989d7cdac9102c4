"""Issue 8 items 9 and 5: refresh tokens are single use, rotated at each refresh, and the
reuse of a spent one revokes its whole family (a stolen refresh token betrays itself)."""

from __future__ import annotations

import httpx
import pytest

from tests.api import Api
from tests.livestack import LiveServer
from tests.security.auth_fixtures import BACKENDS, PASSWORD, login, make_user, refresh, root, server


@pytest.fixture(scope="module", params=BACKENDS)
def live(request) -> LiveServer:
    with server(request.param) as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveServer) -> Api:
    return root(live)


def _ok(resp: httpx.Response) -> dict:
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_user_refresh_token_rotates_and_reuse_revokes_the_family(
    live: LiveServer, admin: Api
) -> None:
    make_user(admin, "rotator")
    first = _ok(login(live, "rotator", PASSWORD))
    second = _ok(refresh(live, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    third = _ok(refresh(live, second["refresh_token"]))
    assert Api(live.api_url, third["access_token"]).get("/user").status_code == 200

    # an attacker replays a spent refresh token: refused, and the family dies with it
    assert refresh(live, first["refresh_token"]).status_code == 401
    assert refresh(live, third["refresh_token"]).status_code == 401
    assert Api(live.api_url, third["access_token"]).get("/user").status_code == 401
    # the owner logs in again
    assert _ok(login(live, "rotator", PASSWORD))["access_token"]


def test_spent_refresh_token_is_refused(live: LiveServer, admin: Api) -> None:
    make_user(admin, "spender")
    first = _ok(login(live, "spender", PASSWORD))
    _ok(refresh(live, first["refresh_token"]))
    assert refresh(live, first["refresh_token"]).status_code == 401


def test_other_sessions_survive_a_refresh(live: LiveServer, admin: Api) -> None:
    """Rotation is per login: refreshing on one device does not log out another."""
    make_user(admin, "two_devices")
    laptop = _ok(login(live, "two_devices", PASSWORD))
    phone = _ok(login(live, "two_devices", PASSWORD))
    _ok(refresh(live, laptop["refresh_token"]))
    assert _ok(refresh(live, phone["refresh_token"]))["access_token"]


def test_node_refresh_token_rotates_and_reuse_revokes(live: LiveServer, admin: Api) -> None:
    org = admin.ok("POST", "/organization", json={"name": "rotating org"})["id"]
    collab = admin.ok(
        "POST",
        "/collaboration",
        json={"name": "rotating collab", "encrypted": False, "organization_ids": [org]},
    )["id"]
    node = admin.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})
    first = _ok(httpx.post(live.api_url + "/token/node", json={"api_key": node["api_key"]}))
    second = _ok(refresh(live, first["refresh_token"]))
    assert second["refresh_token"] != first["refresh_token"]
    assert refresh(live, first["refresh_token"]).status_code == 401
    assert refresh(live, second["refresh_token"]).status_code == 401
    assert Api(live.api_url, second["access_token"]).get("/run").status_code == 401
    # the real node still has its API key
    again = _ok(httpx.post(live.api_url + "/token/node", json={"api_key": node["api_key"]}))
    assert Api(live.api_url, again["access_token"]).get("/run").status_code == 200


def test_our_node_and_client_keep_refreshing(live: LiveServer, admin: Api) -> None:
    """The node's Authenticator and the Python client keep the refresh token each refresh
    returns, so refreshing again and again works."""
    import asyncio

    from vantage6_client.transport import Transport
    from vantage6_node.connection import Authenticator
    from vantage6_node.server_api import ServerAPI

    org = admin.ok("POST", "/organization", json={"name": "own node org"})["id"]
    collab = admin.ok(
        "POST",
        "/collaboration",
        json={"name": "own node collab", "encrypted": False, "organization_ids": [org]},
    )["id"]
    key = admin.ok("POST", "/node", json={"collaboration_id": collab, "organization_id": org})[
        "api_key"
    ]

    async def node_side() -> tuple[int, int]:
        api = ServerAPI(live.api_url)
        auth = Authenticator(api, key)
        await auth.login()
        for _ in range(3):
            await auth.token_rejected(auth.access or "")  # renews with the refresh token
        await api.close()
        return auth.logins, auth.refreshes

    assert asyncio.run(node_side()) == (1, 3)

    make_user(admin, "own_client")
    tokens = _ok(login(live, "own_client", PASSWORD))
    transport = Transport(live.api_url)
    transport.set_tokens(tokens["access_token"], tokens["refresh_token"], tokens["refresh_url"])
    for _ in range(3):
        transport.refresh()
    assert Api(live.api_url, transport.access_token).get("/user").status_code == 200
