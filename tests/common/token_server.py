"""A token server for tests, in an ``httpx.MockTransport``: a real server's shortest token
lifetime is a minute; this one hands out tokens that live a few seconds."""

from __future__ import annotations

import time

import httpx
import jwt

API = "http://server.test/api"


def make_token(lifetime: float, n: int) -> str:
    now = time.time()
    claims = {"sub": 3, "iat": now, "exp": now + lifetime, "n": n}
    return jwt.encode(claims, "test-secret-" * 4, algorithm="HS256")


class TokenServer:
    """Hands out numbered tokens; accepts only the newest access token."""

    def __init__(self, lifetime: float = 60.0) -> None:
        self.lifetime = lifetime
        self.issued = 0
        self.current: str | None = None
        self.refresh: str | None = None
        self.refuse_refresh = False
        self.unavailable = False  # the token endpoints answer 503 (a proxy before a restart)
        self.refreshes = 0
        self.logins = 0
        self.seen: list[str] = []

    def _issue(self) -> httpx.Response:
        self.issued += 1
        self.current = make_token(self.lifetime, self.issued)
        self.refresh = f"refresh-{self.issued}"
        return httpx.Response(
            200, json={"access_token": self.current, "refresh_token": self.refresh}
        )

    def handle(self, request: httpx.Request) -> httpx.Response:
        bearer = request.headers.get("Authorization", "")[7:]
        path = request.url.path
        self.seen.append(path)
        if self.unavailable and path.startswith("/api/token/"):
            return httpx.Response(503, text="Service Unavailable")
        if path == "/api/token/node":
            if b"good" not in request.content:
                return httpx.Response(401, json={"msg": "Invalid API key"})
            self.logins += 1
            return self._issue()
        if path == "/api/token/refresh":
            if self.refuse_refresh or bearer != self.refresh:
                return httpx.Response(401, json={"msg": "refresh refused"})
            self.refreshes += 1
            return self._issue()
        if (
            bearer != self.current
            or time.time() >= jwt.decode(bearer, options={"verify_signature": False})["exp"]
        ):
            return httpx.Response(401, json={"msg": "token refused"})
        return httpx.Response(200, json={"ok": True})

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)
