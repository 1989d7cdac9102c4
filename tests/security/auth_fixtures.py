"""Helpers for the authentication security tests: servers, a real SMTP sink, TOTP codes."""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from collections.abc import Iterator

import httpx
import pyotp
from aiosmtpd.controller import Controller

from tests.api import Api
from tests.livestack import LiveServer, free_port, start_server

BACKENDS = os.environ.get("V6_TEST_DATABASES", "sqlite,postgresql").split(",")
GENERIC = "Invalid username or password, or the account is temporarily locked"
PASSWORD = "Start-Pass-1!"


class MailSink:
    """A real SMTP server on loopback that keeps what it receives.

    ``gate`` (when cleared) holds every mail in the DATA phase until it is set again, like a
    slow or stuck mail server; ``delay`` adds a fixed time to every mail.
    """

    def __init__(self, delay: float = 0.0) -> None:
        self.messages: list[str] = []
        self.delay = delay
        self.gate = threading.Event()
        self.gate.set()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        import asyncio

        deadline = time.monotonic() + 30
        while not self.gate.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.messages.append(envelope.content.decode("utf-8", "replace"))
        return "250 OK"

    def wait_for(self, count: int, timeout: float = 15) -> list[str]:
        deadline = time.monotonic() + timeout
        while len(self.messages) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages

    @contextlib.contextmanager
    def running(self) -> Iterator[MailSink]:
        self.controller.start()
        try:
            yield self
        finally:
            self.gate.set()
            self.controller.stop()


def smtp_env(sink: MailSink) -> str:
    """``V6_SMTP`` pointing the server at ``sink``."""
    return json.dumps({"host": "127.0.0.1", "port": sink.port})


@contextlib.contextmanager
def server(backend: str = "sqlite", **env: str) -> Iterator[LiveServer]:
    """A live server on a fresh database; ``env`` adds ``V6_*`` settings (rate limits are
    high unless set here: see ``tests.livestack.TEST_RATE_LIMITS``)."""
    live, cleanup = start_server(backend, extra_env=env)
    try:
        yield live
    finally:
        cleanup()


def root(live: LiveServer) -> Api:
    return Api.as_user(live.api_url, live.root_username, live.root_password)


def login(
    live: LiveServer,
    username: str,
    password: str,
    code: str | None = None,
    headers: dict | None = None,
) -> httpx.Response:
    body = {"username": username, "password": password}
    if code:
        body["mfa_code"] = code
    return httpx.post(live.api_url + "/token/user", json=body, headers=headers, timeout=30)


def refresh(live: LiveServer, refresh_token: str, headers: dict | None = None) -> httpx.Response:
    return httpx.post(
        live.api_url + "/token/refresh",
        headers={"Authorization": f"Bearer {refresh_token}", **(headers or {})},
        timeout=30,
    )


def make_user(admin: Api, name: str, password: str = PASSWORD, org: int | None = None) -> dict:
    if org is None:
        org = admin.ok("GET", "/organization", params={"name": "root"})["data"][0]["id"]
    return admin.ok(
        "POST",
        "/user",
        json={
            "username": name,
            "email": f"{name}@example.org",
            "password": password,
            "organization_id": org,
        },
    )


class Totp:
    """Codes of one TOTP secret, each from a time step later than the one used before.

    A server that refuses a replayed code accepts each code of this helper once: it waits for
    the next 30 s step when the step after the current one (the server allows one step of
    drift) has been used already.
    """

    def __init__(self, secret: str) -> None:
        self.totp = pyotp.TOTP(secret)
        self.last_step = -1

    def code(self) -> str:
        while True:
            now_step = int(time.time()) // 30
            step = max(now_step, self.last_step + 1)
            if step <= now_step + 1:
                self.last_step = step
                return self.totp.at(step * 30)
            time.sleep(0.5)


def enrol(live: LiveServer, username: str, password: str = PASSWORD) -> tuple[Api, Totp]:
    """Set up 2FA for a user (first login answers the secret); returns the session and codes."""
    first = login(live, username, password).json()
    assert "otp_secret" in first, first
    codes = Totp(first["otp_secret"])
    resp = login(live, username, password, codes.code())
    assert resp.status_code == 200, resp.text
    return Api(live.api_url, resp.json()["access_token"]), codes
