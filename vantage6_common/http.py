"""Bearer tokens that renew themselves, as an ``httpx.Auth`` for sync and async clients.

:class:`TokenAuth` holds an access token and a refresh token. Before a request it renews an
access token that is about to expire; when the server answers 401 it renews the token and sends
the request once more. Renewing means ``POST <refresh_url>`` with the refresh token and, when
that is refused and a login is configured (a node's API key), ``POST <login_url>`` again.

The decisions are written once, in :meth:`TokenAuth.auth_flow` and :meth:`TokenAuth._renewal`
(generators that yield requests and receive responses, the way httpx drives an ``Auth``); the
sync and async drivers only add the lock that lets one caller renew while the others wait.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Generator
from contextlib import closing
from dataclasses import dataclass
from typing import Any

import httpx
import jwt

log = logging.getLogger(__name__)

#: renew at most this long before expiry (and at a fifth of a short token's lifetime)
MAX_RENEW_MARGIN = 300.0


class TokenRefused(Exception):
    """The server refused to renew the token (refresh token and login, if any, both refused),
    or could not (a 5xx answer: the tokens are kept)."""

    def __init__(self, response: httpx.Response) -> None:
        self.status_code = response.status_code
        self.body = _body(response)
        super().__init__(f"{response.status_code}: {message_of(self.body)}")


def message_of(body: Any) -> str:
    """The server's message in an error body (``msg``, ``message`` or ``detail``)."""
    if isinstance(body, dict):
        for key in ("msg", "message", "detail"):
            value = body.get(key)
            if isinstance(value, str) and value:
                return value
        return str(body)[:500]
    return str(body or "")[:500]


def token_claims(token: str | None) -> dict[str, Any]:
    """The claims of a JWT, unverified (only to read its lifetime and subject)."""
    if not token:
        return {}
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


@dataclass(frozen=True)
class _Renew:
    """A step of :meth:`TokenAuth.auth_flow`: renew unless the token is no longer ``seen``."""

    seen: str | None


class TokenAuth(httpx.Auth):
    """An access token kept valid for an ``httpx.Client`` or ``httpx.AsyncClient``.

    ``refresh_url`` is where a refresh token is traded for new tokens; ``login_url`` and
    ``login_body`` (optional) log in anew when there is no refresh token or it is refused.
    ``listeners`` are called with a token the server refused, after it has been replaced.
    """

    requires_response_body = True

    def __init__(
        self,
        refresh_url: str,
        *,
        login_url: str | None = None,
        login_body: dict[str, Any] | None = None,
    ) -> None:
        self.refresh_url = refresh_url
        self.login_url = login_url
        self.login_body = login_body
        self.access: str | None = None
        self.refresh: str | None = None
        self.issued_at = 0.0
        self.expires_at = 0.0
        self.refreshes = 0
        self.logins = 0
        self.listeners: list[Callable[[str], None]] = []
        self._thread_lock = threading.RLock()
        self._async_lock = asyncio.Lock()

    # -- token state ----------------------------------------------------------------------------
    def set_tokens(self, answer: dict[str, Any]) -> None:
        """Take the tokens of a login or refresh answer (``access_token``, ``refresh_token``)."""
        access = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(access, str) or not access:
            raise ValueError("the server's answer has no access token")
        claims = token_claims(access)
        now = time.time()
        self.access = access
        self.refresh = answer.get("refresh_token") or self.refresh
        self.issued_at = _number(claims.get("iat"), now)
        self.expires_at = _number(claims.get("exp"), now + 3600)

    def clear(self) -> None:
        self.access = self.refresh = None
        self.issued_at = self.expires_at = 0.0

    @property
    def margin(self) -> float:
        """Renew this long before expiry: a fifth of the lifetime, at most five minutes."""
        return min(MAX_RENEW_MARGIN, max(1.0, self.expires_at - self.issued_at) / 5)

    def can_renew(self) -> bool:
        return bool(self.refresh) or self.login_url is not None

    def needs_renewal(self) -> bool:
        if self.access is None:
            return self.login_url is not None
        return self.can_renew() and time.time() >= self.expires_at - self.margin

    # -- the flow (written once) ------------------------------------------------------------------
    def auth_flow(self, request: httpx.Request) -> Generator[Any, Any, None]:
        if self.needs_renewal():
            yield _Renew(self.access)
        sent = self._authorize(request)
        response = yield request
        if response.status_code != 401 or not sent or not self.can_renew():
            return
        yield _Renew(sent)
        if self.access and self.access != sent:
            for listener in self.listeners:
                listener(sent)
            self._authorize(request)
            yield request

    def _authorize(self, request: httpx.Request) -> str | None:
        if self.access:
            request.headers["Authorization"] = f"Bearer {self.access}"
        return self.access

    def _renewal(self) -> Generator[httpx.Request, httpx.Response, None]:
        """Refresh, or log in again when that is refused; raise :class:`TokenRefused` when the
        server accepts neither."""
        response: httpx.Response | None = None
        if self.refresh:
            headers = {"Authorization": f"Bearer {self.refresh}"}
            response = yield httpx.Request("POST", self.refresh_url, headers=headers)
            if response.status_code == 200:
                self.set_tokens(_body(response))
                self.refreshes += 1
                log.debug("node token refreshed" if self.login_url else "access token refreshed")
                return
            if response.status_code >= 500:  # the server's trouble, not the token's
                raise TokenRefused(response)
            log.info("token refresh refused (%s)", response.status_code)
        if self.login_url is not None:
            response = yield httpx.Request("POST", self.login_url, json=self.login_body)
            if response.status_code == 200:
                self.set_tokens(_body(response))
                self.logins += 1
                return
        if response is not None:
            if response.status_code < 500:
                self.access = None
            raise TokenRefused(response)

    # -- drivers: locks around renewal -------------------------------------------------------------
    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, Any, None]:
        flow = self.auth_flow(request)
        step = next(flow)
        while True:
            reply = None
            if isinstance(step, _Renew):
                with self._thread_lock:
                    if self.access == step.seen:
                        renewal = self._renewal()
                        with closing(renewal):
                            inner = next(renewal, None)
                            while inner is not None:
                                answer = yield inner
                                answer.read()
                                inner = _send(renewal, answer)
            else:
                reply = yield step
                reply.read()
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, Any]:
        flow = self.auth_flow(request)
        step = next(flow)
        while True:
            reply = None
            if isinstance(step, _Renew):
                async with self._async_lock:
                    if self.access == step.seen:
                        renewal = self._renewal()
                        with closing(renewal):
                            inner = next(renewal, None)
                            while inner is not None:
                                answer = yield inner
                                await answer.aread()
                                inner = _send(renewal, answer)
            else:
                reply = yield step
                await reply.aread()
            try:
                step = flow.send(reply)
            except StopIteration:
                return

    # -- a valid token without a request (for a socket handshake) ----------------------------------
    def token(self, client: httpx.Client, *, force: bool = False) -> str | None:
        """The access token, renewed first through ``client`` when needed (or ``force``)."""
        seen = self.access
        if force or self.needs_renewal():
            with self._thread_lock:
                if self.access == seen:
                    renewal = self._renewal()
                    inner = next(renewal, None)
                    while inner is not None:
                        inner = _send(renewal, client.send(inner, auth=None))
        return self.access

    async def atoken(self, client: httpx.AsyncClient, *, force: bool = False) -> str | None:
        """Async :meth:`token`."""
        seen = self.access
        if force or self.needs_renewal():
            async with self._async_lock:
                if self.access == seen:
                    renewal = self._renewal()
                    inner = next(renewal, None)
                    while inner is not None:
                        inner = _send(renewal, await client.send(inner, auth=None))
        return self.access


def _send(
    gen: Generator[httpx.Request, httpx.Response, None], response: httpx.Response
) -> httpx.Request | None:
    try:
        return gen.send(response)
    except StopIteration:
        return None


def _body(response: httpx.Response) -> Any:
    if not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _number(value: Any, default: float) -> float:
    return float(value) if isinstance(value, int | float) else default
