"""REST calls from the node to the server (``/api``), with retries while it is unreachable."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import aiohttp

from vantage6_node.backoff import Backoff

log = logging.getLogger(__name__)

#: statuses that mean "the server (or something in front of it) is not there right now"
UNAVAILABLE_STATUSES = frozenset({502, 503, 504})


class ServerUnavailable(ConnectionError):
    """The server could not be reached (connection refused, timeout, 502/503/504)."""


class ServerError(Exception):
    """The server answered with an error status."""

    def __init__(self, status: int, msg: str, body: Any = None) -> None:
        super().__init__(f"{status}: {msg}")
        self.status = status
        self.msg = msg
        self.body = body


@dataclass
class Response:
    status: int
    data: Any
    headers: dict[str, str]

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


class TokenSource(Protocol):
    """Supplies the node's access token (see :class:`vantage6_node.connection.Authenticator`)."""

    async def access_token(self) -> str: ...

    async def token_rejected(self, token: str) -> None: ...


def _message(data: Any) -> str:
    if isinstance(data, dict):
        return str(data.get("msg") or data.get("message") or data)
    return str(data)[:500]


class ServerAPI:
    """Thin async client of the server's REST API."""

    def __init__(
        self,
        api_url: str,
        session: aiohttp.ClientSession,
        tokens: TokenSource | None = None,
        request_timeout: float = 30.0,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.session = session
        self.tokens = tokens
        self.request_timeout = request_timeout
        self.stopping = asyncio.Event()

    def url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    # one attempt -------------------------------------------------------------------------------
    async def raw(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | list[tuple[str, Any]] | None = None,
        token: str | None = None,
        headers: dict[str, str] | None = None,
        data: bytes | None = None,
        timeout: float | None = None,
    ) -> Response:
        """One request; raises :class:`ServerUnavailable` when the server cannot be reached."""
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            async with self.session.request(
                method,
                self.url(path),
                json=json,
                params=_clean_params(params),
                headers=hdrs,
                data=data,
                timeout=aiohttp.ClientTimeout(total=timeout or self.request_timeout),
            ) as resp:
                body = await resp.read()
                ctype = resp.headers.get("Content-Type", "")
                if "json" in ctype and body:
                    try:
                        parsed: Any = await resp.json(content_type=None)
                    except ValueError:
                        parsed = body.decode("utf-8", "replace")
                else:
                    parsed = body.decode("utf-8", "replace") if body else None
                result = Response(resp.status, parsed, dict(resp.headers))
        except (TimeoutError, aiohttp.ClientConnectionError, OSError) as exc:
            raise ServerUnavailable(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
        if result.status in UNAVAILABLE_STATUSES:
            raise ServerUnavailable(f"{method} {path}: HTTP {result.status}")
        return result

    # with retries and the node token -------------------------------------------------------------
    async def call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        retry_for: float | None = None,
        authenticated: bool = True,
        expect: Callable[[Response], bool] | None = None,
    ) -> Any:
        """Request as the node; retry while the server is unreachable.

        ``retry_for`` is how long to keep retrying (seconds; ``None`` = until it answers or the
        node stops; ``0`` = one attempt). 4xx/5xx answers raise :class:`ServerError` (a 401 is
        retried once with a fresh token).
        """
        backoff = Backoff(base=0.25, cap=10.0)
        deadline = None if retry_for is None else time.monotonic() + retry_for
        refreshed = False
        while True:
            token = None
            if authenticated and self.tokens is not None:
                token = await self.tokens.access_token()
            try:
                resp = await self.raw(method, path, json=json, params=params, token=token)
            except ServerUnavailable as exc:
                if self.stopping.is_set():
                    raise
                if deadline is not None and time.monotonic() >= deadline:
                    raise
                delay = backoff.next()
                if deadline is not None:
                    delay = min(delay, max(0.0, deadline - time.monotonic()))
                log.debug("server unreachable (%s); retrying in %.1fs", exc, delay)
                await self._sleep(delay)
                continue
            if resp.status == 401 and authenticated and self.tokens is not None and not refreshed:
                refreshed = True
                await self.tokens.token_rejected(token or "")
                continue
            if expect is not None and expect(resp):
                return resp.data
            if not resp.ok:
                raise ServerError(resp.status, _message(resp.data), resp.data)
            return resp.data

    async def _sleep(self, delay: float) -> None:
        try:
            await asyncio.wait_for(self.stopping.wait(), timeout=delay)
        except TimeoutError:
            return
        raise ServerUnavailable("node is stopping")

    async def list_all(
        self, path: str, params: dict[str, Any] | None = None, retry_for: float | None = None
    ) -> list[dict[str, Any]]:
        """All pages of a list endpoint."""
        params = dict(params or {})
        params.setdefault("per_page", 100)
        page = 1
        out: list[dict[str, Any]] = []
        while True:
            data = await self.call(
                "GET", path, params={**params, "page": page}, retry_for=retry_for
            )
            if isinstance(data, list):  # tolerate unpaginated answers
                return out + data
            items = data.get("data", []) if isinstance(data, dict) else []
            out.extend(items)
            links = data.get("links") if isinstance(data, dict) else None
            if not items or not links or not links.get("next"):
                return out
            page += 1
            if page > 10_000:
                return out

    # typed helpers -----------------------------------------------------------------------------
    async def node_token(self, api_key: str) -> dict[str, Any]:
        resp = await self.raw("POST", "token/node", json={"api_key": api_key})
        if not resp.ok:
            raise ServerError(resp.status, _message(resp.data), resp.data)
        return resp.data

    async def refresh_token(self, refresh_token: str) -> dict[str, Any]:
        resp = await self.raw("POST", "token/refresh", token=refresh_token)
        if not resp.ok:
            raise ServerError(resp.status, _message(resp.data), resp.data)
        return resp.data

    async def get_node(self, node_id: int) -> dict[str, Any]:
        return await self.call("GET", f"node/{node_id}")

    async def get_organization(self, org_id: int, retry_for: float | None = None) -> dict:
        return await self.call("GET", f"organization/{org_id}", retry_for=retry_for)

    async def patch_organization(self, org_id: int, data: dict[str, Any]) -> dict[str, Any]:
        return await self.call("PATCH", f"organization/{org_id}", json=data)

    async def get_collaboration(self, collab_id: int) -> dict[str, Any]:
        return await self.call("GET", f"collaboration/{collab_id}")

    async def open_runs(
        self, node_id: int, task_id: int | None = None, retry_for: float | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"state": "open", "node_id": node_id, "include": "task"}
        if task_id is not None:
            params["task_id"] = task_id
        return await self.list_all("run", params, retry_for=retry_for)

    async def get_run(self, run_id: int, retry_for: float | None = None) -> dict[str, Any]:
        return await self.call("GET", f"run/{run_id}", retry_for=retry_for)

    async def patch_run(
        self, run_id: int, data: dict[str, Any], retry_for: float | None = None
    ) -> dict[str, Any]:
        return await self.call("PATCH", f"run/{run_id}", json=data, retry_for=retry_for)

    async def container_token(
        self, task_id: int, image: str, retry_for: float | None = None
    ) -> str:
        data = await self.call(
            "POST",
            "token/container",
            json={"task_id": task_id, "image": image},
            retry_for=retry_for,
        )
        token = data.get("container_token") if isinstance(data, dict) else None
        if not token:
            raise ServerError(400, f"no container token in answer: {_message(data)}", data)
        return token

    async def get_task(self, task_id: int, retry_for: float | None = None) -> dict[str, Any]:
        return await self.call("GET", f"task/{task_id}", retry_for=retry_for)

    async def get_algorithm_store(self, store_id: int) -> dict[str, Any]:
        return await self.call("GET", f"algorithmstore/{store_id}", retry_for=60)


def _clean_params(
    params: dict[str, Any] | list[tuple[str, Any]] | None,
) -> list[tuple[str, str]] | None:
    if not params:
        return None
    items = params.items() if isinstance(params, dict) else params
    out = []
    for key, value in items:
        if value is None:
            continue
        if isinstance(value, bool):
            value = "true" if value else "false"
        out.append((key, str(value)))
    return out


async def run_with_retries(
    fn: Callable[[], Awaitable[Any]], stop: asyncio.Event, what: str, cap: float = 30.0
) -> Any:
    """Call ``fn`` until it stops raising :class:`ServerUnavailable` (or ``stop`` is set)."""
    backoff = Backoff(base=0.5, cap=cap)
    while True:
        try:
            return await fn()
        except ServerUnavailable as exc:
            if stop.is_set():
                raise
            delay = backoff.next()
            log.info("%s: server unreachable (%s); retrying in %.1fs", what, exc, delay)
            try:
                await asyncio.wait_for(stop.wait(), timeout=delay)
            except TimeoutError:
                continue
            raise
