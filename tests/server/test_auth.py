"""Authentication: root password sources, lockout, no enumeration, 2FA, recovery by e-mail."""

from __future__ import annotations

import re
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import pytest
import yaml

from tests.api import Api
from tests.livestack import LiveServer, start_server
from tests.security.auth_fixtures import MailSink, Totp, make_user

GENERIC = "Invalid username or password, or the account is temporarily locked"


@pytest.fixture(scope="module")
def mail() -> MailSink:
    with MailSink().running() as sink:
        yield sink


@pytest.fixture(scope="module")
def strict_root(strict_server: LiveServer) -> Api:
    """Root on the 2FA server; set up once, then reused (logging in again needs a code)."""
    return _totp_login(strict_server, "root", strict_server.root_password)


@pytest.fixture(scope="module")
def strict_server(mail: MailSink):
    """A server with 2FA, a short lockout and SMTP pointed at the sink."""
    config = Path(tempfile.mkdtemp()) / "server.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "two_factor_auth": True,
                "max_failed_attempts": 3,
                "inactivation_minutes": 1,
                "smtp": {"host": "127.0.0.1", "port": mail.port},
            }
        )
    )
    server, cleanup = start_server("sqlite", config_file=config)
    yield server
    cleanup()


def _login(server: LiveServer, username: str, password: str, code: str | None = None):
    body = {"username": username, "password": password}
    if code:
        body["mfa_code"] = code
    return httpx.post(server.api_url + "/token/user", json=body, timeout=30)


def _totp_login(server: LiveServer, username: str, password: str) -> Api:
    first = _login(server, username, password).json()
    secret = first.get("otp_secret")
    if secret:
        assert first["qr_uri"].startswith("otpauth://totp/")
    else:
        pytest.fail(f"expected a 2FA setup answer, got {first}")
    codes = Totp(secret)
    resp = _login(server, username, password, codes.code())
    assert resp.status_code == 200, resp.text
    api = Api(server.api_url, resp.json()["access_token"])
    api.otp_secret = secret
    api.codes = codes  # each code is accepted once
    return api


def test_generated_root_password_is_printed_once_and_works(tmp_path: Path) -> None:
    server = LiveServer(
        database_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
        workdir=tmp_path,
        set_root_password=False,
    )
    server.start()
    try:
        printed = re.findall(r"password: (\S+)", server.log_file.read_text())
        assert len(printed) == 1
        assert _login(server, "root", printed[0]).status_code == 200
        assert _login(server, "root", "root").status_code == 401
        server.restart()
        assert len(re.findall(r"password: (\S+)", server.log_file.read_text())) == 1
    finally:
        server.stop()


def test_root_password_from_file(tmp_path: Path) -> None:
    secret_file = tmp_path / "root-password"
    secret_file.write_text("From-File-Pass-9!\n")
    server = LiveServer(
        database_uri=f"sqlite:///{tmp_path / 'db.sqlite'}",
        workdir=tmp_path,
        set_root_password=False,
        extra_env={"V6_ROOT_PASSWORD_FILE": str(secret_file)},
    )
    server.start()
    try:
        assert _login(server, "root", "From-File-Pass-9!").status_code == 200
        assert "password:" not in server.log_file.read_text()
    finally:
        server.stop()


def test_lockout_and_no_enumeration(strict_server: LiveServer, strict_root: Api) -> None:
    make_user(strict_root, "locky")
    unknown = _login(strict_server, "nobody-here", "Whatever-1!")
    wrong = _login(strict_server, "locky", "Wrong-Pass-1!")
    assert unknown.status_code == wrong.status_code == 401
    assert unknown.json() == wrong.json() == {"msg": GENERIC}
    for _ in range(3):
        _login(strict_server, "locky", "Wrong-Pass-1!")
    locked = _login(strict_server, "locky", "Start-Pass-1!")
    assert locked.status_code == 401 and locked.json() == {"msg": GENERIC}


def test_login_timing_does_not_reveal_users(strict_server: LiveServer, strict_root: Api) -> None:
    make_user(strict_root, "timed")

    def median(username: str) -> float:
        times = []
        for _ in range(7):
            start = time.perf_counter()
            _login(strict_server, username, "Not-The-Pass-1!")
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    existing, missing = median("timed"), median("no-such-user-xyz")
    print(
        f"login failure median: existing user {existing * 1000:.1f} ms, "
        f"unknown user {missing * 1000:.1f} ms"
    )
    assert 0.5 < existing / missing < 2.0


def test_two_factor_required_once_set_up(strict_server: LiveServer, strict_root: Api) -> None:
    make_user(strict_root, "twofa")
    api = _totp_login(strict_server, "twofa", "Start-Pass-1!")
    assert api.ok("GET", "/user", params={"username": "twofa"})["data"]
    no_code = _login(strict_server, "twofa", "Start-Pass-1!")
    assert no_code.status_code == 401 and "qr_uri" not in no_code.text
    bad = _login(strict_server, "twofa", "Start-Pass-1!", "000000")
    assert bad.status_code == 401
    good = _login(strict_server, "twofa", "Start-Pass-1!", api.codes.code())
    assert good.status_code == 200


def test_password_recovery_by_mail(
    strict_server: LiveServer, mail: MailSink, strict_root: Api
) -> None:
    user = make_user(strict_root, "forgetful")
    api = _totp_login(strict_server, "forgetful", "Start-Pass-1!")
    before = len(mail.messages)
    unknown = httpx.post(
        strict_server.api_url + "/recover/lost", json={"email": "ghost@example.org"}
    )
    known = httpx.post(strict_server.api_url + "/recover/lost", json={"email": user["email"]})
    assert unknown.status_code == known.status_code == 200
    assert unknown.json() == known.json()
    messages = mail.wait_for(before + 1)
    time.sleep(0.3)
    assert len(messages) == before + 1, "exactly one mail: none for the unknown address"
    assert "forgetful@example.org" in messages[-1]
    token = re.search(r"^([A-Za-z0-9_-]{30,})\s*$", messages[-1], re.M).group(1)
    weak = httpx.post(
        strict_server.api_url + "/recover/reset", json={"reset_token": token, "password": "weak"}
    )
    assert weak.status_code == 400 and "errors" in weak.json()
    reset = httpx.post(
        strict_server.api_url + "/recover/reset",
        json={"reset_token": token, "password": "Brand-New-Pass-2!"},
    )
    assert reset.status_code == 200, reset.text
    again = httpx.post(
        strict_server.api_url + "/recover/reset",
        json={"reset_token": token, "password": "Other-New-Pass-3!"},
    )
    assert again.status_code == 400
    code = api.codes.code()
    assert _login(strict_server, "forgetful", "Start-Pass-1!", code).status_code == 401
    assert _login(strict_server, "forgetful", "Brand-New-Pass-2!", code).status_code == 200
    # tokens issued before the reset are revoked
    assert api.get("/user").status_code == 401


def test_two_factor_recovery_by_mail(
    strict_server: LiveServer, mail: MailSink, strict_root: Api
) -> None:
    make_user(strict_root, "lostphone")
    _totp_login(strict_server, "lostphone", "Start-Pass-1!")
    before = len(mail.messages)
    resp = httpx.post(strict_server.api_url + "/recover/2fa/lost", json={"username": "lostphone"})
    assert resp.status_code == 200
    token = re.search(r"^([A-Za-z0-9_-]{30,})\s*$", mail.wait_for(before + 1)[-1], re.M).group(1)
    reset = httpx.post(strict_server.api_url + "/recover/2fa/reset", json={"reset_token": token})
    assert reset.status_code == 200
    assert "qr_uri" in _login(strict_server, "lostphone", "Start-Pass-1!").json()


def test_password_change_and_refresh(live_server: LiveServer, root_api: Api) -> None:
    make_user(root_api, "changer")
    tokens = _login(live_server, "changer", "Start-Pass-1!").json()
    api = Api(live_server.api_url, tokens["access_token"])
    wrong = api.patch(
        "/password/change",
        json={"current_password": "nope-Nope-1!", "new_password": "Next-Pass-2!"},
    )
    assert wrong.status_code == 401
    weak = api.patch(
        "/password/change", json={"current_password": "Start-Pass-1!", "new_password": "short"}
    )
    assert weak.status_code == 400
    ok = api.patch(
        "/password/change",
        json={"current_password": "Start-Pass-1!", "new_password": "Next-Pass-2!"},
    )
    assert ok.status_code == 200
    # the change ends every earlier session; the answer carries the caller's new pair
    assert api.get("/user").status_code == 401
    assert Api(live_server.api_url, ok.json()["access_token"]).get("/user").status_code == 200
    old_refresh = httpx.post(
        live_server.api_url + "/token/refresh",
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
    )
    assert old_refresh.status_code == 401
    tokens = _login(live_server, "changer", "Next-Pass-2!").json()
    refreshed = httpx.post(
        live_server.api_url + "/token/refresh",
        headers={"Authorization": f"Bearer {tokens['refresh_token']}"},
    )
    assert refreshed.status_code == 200 and refreshed.json()["access_token"]
    with_access = httpx.post(
        live_server.api_url + "/token/refresh",
        headers={"Authorization": f"Bearer {tokens['access_token']}"},
    )
    assert with_access.status_code == 401
