"""REST calls from the node to the server (``/api``), with retries while it is unreachable."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx

from vantage6_common.http import TokenAuth, TokenRefused, message_of
from vantage6_common.retry import REQUEST_CAP, REQUEST_INITIAL, aretrying

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


#: transport problems that mean "the server is not there right now"
UNREACHABLE = (httpx.TransportError, OSError)


class ServerAPI:
    """Thin async client of the server's REST API (httpx).

    ``auth`` (a :class:`~vantage6_common.http.TokenAuth`) authenticates :meth:`call` as the
    node and renews the node's token; :meth:`raw` sends one request with a given token.
    ``transport`` replaces the network (tests).
    """

    def __init__(
        self,
        api_url: str,
        auth: TokenAuth | None = None,
        request_timeout: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.api_url = api_url.rstrip("/")
        self.auth = auth
        self.request_timeout = request_timeout
        self.client = httpx.AsyncClient(
            timeout=request_timeout,
            limits=httpx.Limits(max_connections=100),
            headers={"User-Agent": "vantage6-next-node"},
            transport=transport,
        )
        self.stopping = asyncio.Event()

    def url(self, path: str) -> str:
        return f"{self.api_url}/{path.lstrip('/')}"

    async def close(self) -> None:
        await self.client.aclose()

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
        as_node: bool = False,
    ) -> Response:
        """One request, with ``token`` or (``as_node``) the node's own, renewed as needed.

        Raises :class:`ServerUnavailable` when the server cannot be reached.
        """
        hdrs = dict(headers or {})
        if token:
            hdrs["Authorization"] = f"Bearer {token}"
        try:
            resp = await self.client.request(
                method,
                self.url(path),
                json=json,
                params=_clean_params(params),
                headers=hdrs,
                content=data,
                timeout=timeout or self.request_timeout,
                auth=self.auth if as_node and self.auth is not None else None,
            )
        except UNREACHABLE as exc:
            raise ServerUnavailable(f"{method} {path}: {exc.__class__.__name__}: {exc}") from exc
        except TokenRefused as exc:
            raise refused_error(exc) from exc
        if resp.status_code in UNAVAILABLE_STATUSES:
            raise ServerUnavailable(f"{method} {path}: HTTP {resp.status_code}")
        return Response(resp.status_code, _parse(resp), dict(resp.headers))

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
        retried once with a renewed token, by the node's ``TokenAuth``).
        """
        retrier = aretrying(
            ServerUnavailable,
            attempts=1 if retry_for == 0 else None,
            within=retry_for or None,
            initial=REQUEST_INITIAL,
            cap=REQUEST_CAP,
            stop_event=self.stopping,
            log=log,
            what="server unreachable",
        )
        async for attempt in retrier:
            with attempt:
                resp = await self.raw(method, path, json=json, params=params, as_node=authenticated)
        if expect is not None and expect(resp):
            return resp.data
        if not resp.ok:
            raise ServerError(resp.status, message_of(resp.data), resp.data)
        return resp.data

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
            raise ServerError(400, f"no container token in answer: {message_of(data)}", data)
        return token

    async def get_task(self, task_id: int, retry_for: float | None = None) -> dict[str, Any]:
        return await self.call("GET", f"task/{task_id}", retry_for=retry_for)

    async def get_algorithm_store(self, store_id: int) -> dict[str, Any]:
        return await self.call("GET", f"algorithmstore/{store_id}", retry_for=60)


def refused_error(exc: TokenRefused) -> ServerError | ServerUnavailable:
    """The node's error for a refused token renewal (a 502/503/504: the server is away)."""
    if exc.status_code in UNAVAILABLE_STATUSES:
        return ServerUnavailable(f"token renewal: HTTP {exc.status_code}")
    return ServerError(exc.status_code, message_of(exc.body), exc.body)


def _parse(resp: httpx.Response) -> Any:
    body = resp.content
    if "json" in resp.headers.get("Content-Type", "") and body:
        try:
            return resp.json()
        except ValueError:
            return body.decode("utf-8", "replace")
    return body.decode("utf-8", "replace") if body else None


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
