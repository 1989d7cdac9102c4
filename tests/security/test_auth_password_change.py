"""Issue 8 items 4 and 5: ``PATCH /password/change`` (vantage6's CVE-2025-43863).

Its failures count toward the same lockout as logins, with the same message whether the
password is wrong or the account locked; a change revokes every token issued before it.
"""

from __future__ import annotations

import pytest

from tests.api import Api
from tests.livestack import LiveServer
from tests.security.auth_fixtures import PASSWORD, login, make_user, refresh, root, server

CHANGED = "Changed-Pass-2!"


@pytest.fixture(scope="module")
def live() -> LiveServer:
    with server("sqlite", V6_MAX_FAILED_ATTEMPTS="3", V6_INACTIVATION_MINUTES="5") as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveServer) -> Api:
    return root(live)


def _change(api: Api, current: str, new: str = CHANGED):
    return api.patch("/password/change", json={"current_password": current, "new_password": new})


def test_password_change_cannot_be_brute_forced_cve_2025_43863(
    live: LiveServer, admin: Api
) -> None:
    make_user(admin, "guessed")
    session = Api(live.api_url, login(live, "guessed", PASSWORD).json()["access_token"])
    wrong = [_change(session, f"Guess-{i}-Pass!") for i in range(3)]
    assert [r.status_code for r in wrong] == [401, 401, 401]
    messages = {r.json()["msg"] for r in wrong}
    assert len(messages) == 1

    # the account is now locked: the right password is refused with the very same answer,
    # by /password/change and by /token/user
    right = _change(session, PASSWORD)
    assert right.status_code == 401 and right.json()["msg"] in messages
    assert login(live, "guessed", PASSWORD).status_code == 401
    # the password has not changed
    assert login(live, "guessed", CHANGED).status_code == 401


def test_login_failures_also_lock_password_change(live: LiveServer, admin: Api) -> None:
    make_user(admin, "shared_count")
    session = Api(live.api_url, login(live, "shared_count", PASSWORD).json()["access_token"])
    assert _change(session, "Guess-0-Pass!").status_code == 401
    for i in range(2):
        assert login(live, "shared_count", f"Guess-{i + 1}-Pass!").status_code == 401
    assert _change(session, PASSWORD).status_code == 401


def test_password_change_revokes_earlier_tokens(live: LiveServer, admin: Api) -> None:
    make_user(admin, "changer2")
    old = login(live, "changer2", PASSWORD).json()
    other_device = login(live, "changer2", PASSWORD).json()
    session = Api(live.api_url, old["access_token"])
    assert _change(session, PASSWORD).status_code == 200

    for tokens in (old, other_device):
        assert Api(live.api_url, tokens["access_token"]).get("/user").status_code == 401
        assert refresh(live, tokens["refresh_token"]).status_code == 401
    fresh = login(live, "changer2", CHANGED)
    assert fresh.status_code == 200
    assert Api(live.api_url, fresh.json()["access_token"]).get("/user").status_code == 200
