"""A change of a user's rules counts from the next request, with the token the user holds.

The server keeps each user's token state and rule keys in memory between requests
(``rbac/user_cache.py``); the tests of revoked and dead tokens (``test_auth_*``) cover the
token state, this one the rules.
Each step below changes the rules in another way (a role gains or loses a rule, the user gains
or loses the role or an own rule, the role is deleted) and the user's very next request, with
the same access token, must be decided by the new rules. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.livestack import LiveServer
from tests.security.auth_fixtures import BACKENDS, PASSWORD, make_user, root, server


@pytest.fixture(scope="module", params=BACKENDS)
def live(request) -> LiveServer:
    with server(request.param) as live:
        yield live


def test_every_kind_of_rule_change_counts_from_the_next_request(live: LiveServer) -> None:
    admin = root(live)
    user = make_user(admin, "ruled")
    api = Api.as_user(live.api_url, "ruled", PASSWORD)
    other = admin.ok("POST", "/organization", json={"name": "seen or not"})["id"]
    rule = admin.ok(
        "GET", "/rule", params={"name": "organization", "scope": "global", "operation": "view"}
    )["data"][0]["id"]
    own_org = admin.ok("GET", f"/user/{user['id']}")["organization"]["id"]

    def sees_other() -> bool:
        status = api.get(f"/organization/{other}").status_code
        assert status in (200, 403), status
        return status == 200

    assert not sees_other()  # no rules yet (and now remembered)
    role = admin.ok(
        "POST",
        "/role",
        json={"name": "viewer", "rules": [rule], "organization_id": own_org},
    )["id"]
    assert not sees_other()  # a role nobody holds changes nothing
    admin.ok("PATCH", f"/user/{user['id']}", json={"roles": [role]})
    assert sees_other()
    admin.ok("DELETE", f"/role/{role}/rule/{rule}")
    assert not sees_other()
    admin.ok("POST", f"/role/{role}/rule/{rule}")
    assert sees_other()
    admin.ok("PATCH", f"/user/{user['id']}", json={"roles": []})
    assert not sees_other()
    admin.ok("PATCH", f"/user/{user['id']}", json={"rules": [rule]})
    assert sees_other()
    admin.ok("PATCH", f"/user/{user['id']}", json={"rules": [], "roles": [role]})
    assert sees_other()
    admin.ok("DELETE", f"/role/{role}", params={"delete_dependents": "true"})
    assert not sees_other()
