"""Issue 8 item 8: a TOTP code is accepted once; replaying it within its window fails."""

from __future__ import annotations

import pyotp
import pytest

from tests.livestack import LiveServer
from tests.security.auth_fixtures import PASSWORD, enrol, login, make_user, server


@pytest.fixture(scope="module")
def live() -> LiveServer:
    with server("sqlite", V6_TWO_FACTOR_AUTH="true", V6_MAX_FAILED_ATTEMPTS="50") as live:
        yield live


@pytest.fixture(scope="module")
def admin(live: LiveServer):
    return enrol(live, "root", live.root_password)[0]


def test_totp_code_cannot_be_replayed(live: LiveServer, admin) -> None:
    make_user(admin, "replayed")
    _, codes = enrol(live, "replayed")
    code = codes.code()
    assert login(live, "replayed", PASSWORD, code).status_code == 200
    replay = login(live, "replayed", PASSWORD, code)
    assert replay.status_code == 401, "the same TOTP code logged in twice"
    # a later code still works
    assert login(live, "replayed", PASSWORD, codes.code()).status_code == 200


def test_enrolment_code_cannot_be_replayed(live: LiveServer, admin) -> None:
    make_user(admin, "enrolled")
    secret = login(live, "enrolled", PASSWORD).json()["otp_secret"]
    code = pyotp.TOTP(secret).now()
    assert login(live, "enrolled", PASSWORD, code).status_code == 200
    assert login(live, "enrolled", PASSWORD, code).status_code == 401


def test_older_code_refused_after_a_newer_one(live: LiveServer, admin) -> None:
    """A code of the previous step is in the drift window, but once a newer one was used,
    a stolen older one is of no use."""
    make_user(admin, "ordered")
    _, codes = enrol(live, "ordered")
    newer = codes.code()
    assert login(live, "ordered", PASSWORD, newer).status_code == 200
    older = codes.totp.at((codes.last_step - 1) * 30)
    assert login(live, "ordered", PASSWORD, older).status_code == 401
