"""Issue 8 item 6: account recovery does not reveal who has an account (vantage6's
CVE-2024-21671 class) and cannot be used to flood anyone's mailbox.

Mail goes out after the answer (a stuck mail server does not hold the request), the answer
takes the same time for a known and an unknown user, and there is a rate limit per client and
per target account.
"""

from __future__ import annotations

import statistics
import time

import httpx
import pytest

from tests.livestack import LiveServer
from tests.security.auth_fixtures import MailSink, make_user, root, server, smtp_env

LOST = ("/recover/lost", "/recover/2fa/lost")


@pytest.fixture(scope="module")
def slow_mail() -> MailSink:
    """A mail server that takes 0.3 s per mail (a remote SMTP relay on a bad day)."""
    with MailSink(delay=0.3).running() as sink:
        yield sink


@pytest.fixture(scope="module")
def live(slow_mail: MailSink) -> LiveServer:
    with server("sqlite", V6_SMTP=smtp_env(slow_mail)) as live:
        make_user(root(live), "known_user")
        yield live


def _post(live: LiveServer, path: str, body: dict, client: str | None = None, timeout=30):
    headers = {"X-Forwarded-For": client} if client else {}
    return httpx.post(live.api_url + path, json=body, headers=headers, timeout=timeout)


@pytest.mark.parametrize("path", LOST)
def test_mail_is_sent_after_the_answer(live: LiveServer, slow_mail: MailSink, path: str) -> None:
    before = len(slow_mail.messages)
    slow_mail.gate.clear()  # the mail server accepts the connection but does not finish
    try:
        start = time.monotonic()
        resp = _post(live, path, {"username": "known_user"}, timeout=8)
        elapsed = time.monotonic() - start
    except httpx.TimeoutException:
        pytest.fail(f"{path} waited for the mail server before answering")
    finally:
        slow_mail.gate.set()
    assert resp.status_code == 200
    assert elapsed < 5
    assert len(slow_mail.wait_for(before + 1)) == before + 1, "the mail never went out"


@pytest.mark.parametrize("path", LOST)
def test_answer_time_does_not_reveal_users_cve_2024_21671(live: LiveServer, path: str) -> None:
    """Medians of interleaved requests for a known and an unknown user, within a factor."""
    known, unknown = [], []
    for i in range(15):
        for name, times in (("known_user", known), (f"nobody_{i}", unknown)):
            start = time.perf_counter()
            resp = _post(live, path, {"username": name})
            times.append(time.perf_counter() - start)
            assert resp.status_code == 200
    k, u = statistics.median(known), statistics.median(unknown)
    print(f"{path}: median known {k * 1000:.1f} ms, unknown {u * 1000:.1f} ms")
    assert 1 / 3 < k / u < 3, f"known {k * 1000:.1f} ms vs unknown {u * 1000:.1f} ms"
    assert k < 0.25, "the answer for a known user waits for something slow"


def test_same_answer_for_known_and_unknown(live: LiveServer) -> None:
    for path in LOST:
        answers = {
            _post(live, path, body).text
            for body in (
                {"username": "known_user"},
                {"username": "nobody"},
                {"email": "known_user@example.org"},
                {"email": "nobody@example.org"},
            )
        }
        assert len(answers) == 1, answers


def test_recovery_rate_limited_per_client() -> None:
    with server(
        "sqlite", V6_RATE_LIMIT_RECOVER="4/minute", V6_RATE_LIMIT_RECOVER_TARGET="1000/minute"
    ) as live:
        answers = [
            _post(live, "/recover/lost", {"username": f"u{i}"}, "203.0.113.7").status_code
            for i in range(6)
        ]
        assert answers[:4] == [200] * 4
        assert answers[4:] == [429, 429]
        limited = _post(live, "/recover/2fa/lost", {"username": "x"}, "203.0.113.7")
        assert limited.status_code == 429
        assert int(limited.headers["Retry-After"]) >= 1
        # another client is not affected
        assert _post(live, "/recover/lost", {"username": "u"}, "203.0.113.8").status_code == 200


def test_recovery_mail_limited_per_target() -> None:
    """Many clients asking for one account's mail: only a few mails go out, same answers."""
    with (
        MailSink().running() as mail,
        server(
            "sqlite",
            V6_SMTP=smtp_env(mail),
            V6_RATE_LIMIT_RECOVER="1000/minute",
            V6_RATE_LIMIT_RECOVER_TARGET="2/hour",
        ) as live,
    ):
        make_user(root(live), "victim")
        answers = {
            _post(live, "/recover/lost", {"username": "victim"}, f"198.51.100.{i}").text
            for i in range(6)
        }
        assert len(answers) == 1
        mail.wait_for(2)
        time.sleep(1.0)
        assert len(mail.messages) == 2, f"{len(mail.messages)} mails to one account"
