"""HTTP transport: one session, tokens, token refresh, error mapping and pagination."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from vantage6_client.exceptions import (
    ApiError,
    AuthenticationError,
    NotAuthenticatedError,
    ServerConnectionError,
    error_for_status,
)
from vantage6_common.http import TokenAuth, TokenRefused
from vantage6_common.retry import retrying

log = logging.getLogger("vantage6_client")

#: Page size used when the client walks through every page for the caller.
ALL_PAGES_PER_PAGE = 100
#: connection problems worth another try (for reads)
RETRIED = (httpx.ConnectError, httpx.TimeoutException, httpx.RemoteProtocolError)


class Page(dict):
    """A list answer: a ``dict`` with ``data`` (the items) and ``links`` (pagination links).

    It keeps the shape vantage6 answers with (``result["data"]``), and adds ``total`` (the
    server's ``total-count``, or ``None``) plus ``page``/``per_page`` of the request (``None``
    when the client collected every page).
    """

    def __init__(
        self,
        data: list[Any],
        links: Mapping[str, Any] | None = None,
        total: int | None = None,
        page: int | None = None,
        per_page: int | None = None,
    ) -> None:
        super().__init__(data=data, links=dict(links or {}))
        self.total = total
        self.page = page
        self.per_page = per_page

    @property
    def data(self) -> list[Any]:
        return self["data"]

    @property
    def links(self) -> dict[str, Any]:
        return self["links"]


def clean_params(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """Drop ``None`` values and empty lists; send booleans as 1/0."""
    cleaned: dict[str, Any] = {}
    for key, value in (params or {}).items():
        if value is None:
            continue
        if isinstance(value, bool):
            value = int(value)
        elif isinstance(value, list | tuple | set):
            value = [int(v) if isinstance(v, bool) else v for v in value if v is not None]
            if not value:
                continue
        cleaned[key] = value
    return cleaned


class Transport:
    """Talks HTTP to one server's API.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:5000/api``. Endpoints are given
    relative to it (``"organization/3"``; a leading ``/`` is allowed). The access token is
    renewed by :class:`~vantage6_common.http.TokenAuth`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 30.0,
        verify: bool | str = True,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        self.origin = f"{parts.scheme}://{parts.netloc}"
        self.timeout = timeout
        self.verify = verify
        self.auth = TokenAuth(self.url_for("token/refresh"))
        self.client = httpx.Client(
            auth=self.auth,
            timeout=timeout,
            verify=verify,
            headers={"User-Agent": "vantage6-next-client"},
        )

    @property
    def access_token(self) -> str | None:
        return self.auth.access

    @property
    def refresh_token(self) -> str | None:
        return self.auth.refresh

    # -- tokens -----------------------------------------------------------------------------
    def set_tokens(
        self, access: str | None, refresh: str | None = None, refresh_url: str | None = None
    ) -> None:
        self.auth.clear()
        if access:
            self.auth.set_tokens({"access_token": access, "refresh_token": refresh})
        self.auth.refresh_url = self.url_for(refresh_url or "token/refresh")

    def current_token(self) -> str:
        """A valid access token, refreshed first when it is about to expire."""
        if not self.auth.access:
            raise NotAuthenticatedError("not logged in: call authenticate() first")
        token = self._renewing(lambda: self.auth.token(self.client))
        if not token:
            raise NotAuthenticatedError("not logged in: call authenticate() first")
        return token

    def refresh(self) -> None:
        """Trade the refresh token for a new access (and refresh) token."""
        if not self.auth.refresh:
            raise NotAuthenticatedError("no refresh token: log in again")
        self._renewing(lambda: self.auth.token(self.client, force=True))

    def _renewing(self, renew: Callable[[], str | None]) -> str | None:
        try:
            return renew()
        except TokenRefused as exc:
            raise _session_expired(exc) from exc
        except httpx.HTTPError as exc:
            raise ServerConnectionError(self.auth.refresh_url, connection_reason(exc)) from exc

    def url_for(self, endpoint: str) -> str:
        if endpoint.startswith(("http://", "https://")):
            return endpoint
        # the server hands out absolute paths that already contain the API prefix
        api_prefix = urlsplit(self.base_url).path
        if endpoint.startswith("/") and api_prefix and endpoint.startswith(api_prefix + "/"):
            return self.origin + endpoint
        return f"{self.base_url}/{endpoint.lstrip('/')}"

    # -- requests ---------------------------------------------------------------------------
    def request(
        self,
        method: str,
        endpoint: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        authenticated: bool = True,
        headers: Mapping[str, str] | None = None,
        want_response: bool = False,
    ) -> Any:
        """Send one request; return the decoded JSON body (``None`` for an empty answer).

        Raises an :class:`ApiError` subclass for error answers and
        :class:`ServerConnectionError` when the server cannot be reached. Only reads (GET)
        are retried after a connection problem: a write may have reached the server.
        """
        method = method.upper()
        url = self.url_for(endpoint)
        query = clean_params(params)
        if authenticated and not self.auth.access:
            raise NotAuthenticatedError("not logged in: call authenticate() first")
        attempts = 3 if method == "GET" else 1
        try:
            for attempt in retrying(RETRIED, attempts=attempts, initial=0.3, cap=1.0, log=log):
                with attempt:
                    response = self._renewing_request(
                        method, url, query, json, headers, authenticated
                    )
        except httpx.HTTPError as exc:
            raise ServerConnectionError(url, connection_reason(exc)) from exc
        log.debug("%s %s %s -> %s", method, url, query or "", response.status_code)
        if response.status_code >= 400:
            raise self._error(method, endpoint, response)
        if want_response:
            return response
        return _decode(response)

    def _renewing_request(
        self,
        method: str,
        url: str,
        query: dict[str, Any],
        json: Any,
        headers: Mapping[str, str] | None,
        authenticated: bool,
    ) -> httpx.Response:
        try:
            return self.client.request(
                method,
                url,
                params=query,
                json=json,
                headers=headers,
                auth=httpx.USE_CLIENT_DEFAULT if authenticated else None,
            )
        except TokenRefused as exc:
            raise _session_expired(exc) from exc

    @staticmethod
    def _error(method: str, endpoint: str, response: httpx.Response) -> ApiError:
        body = _decode(response)
        msg = ""
        errors = None
        if isinstance(body, dict):
            msg = str(body.get("msg") or body.get("message") or "")
            errors = body.get("errors")
            if not msg and "detail" in body:
                detail = body["detail"]
                if isinstance(detail, str):
                    msg = detail
                else:
                    msg, errors = "Request body is incorrect", detail
        elif isinstance(body, str):
            msg = body.strip()[:500]
        if not msg:
            msg = response.reason_phrase or "error"
        cls = error_for_status(response.status_code)
        return cls(
            response.status_code, msg, method=method, endpoint=endpoint, errors=errors, body=body
        )

    # -- pagination -------------------------------------------------------------------------
    def get_page(
        self, endpoint: str, params: Mapping[str, Any] | None, page: int, per_page: int
    ) -> Page:
        query = dict(params or {})
        query.update(page=page, per_page=per_page)
        response = self.request("GET", endpoint, params=query, want_response=True)
        body = _decode(response)
        total = _int_or_none(response.headers.get("total-count"))
        if isinstance(body, list):  # an endpoint without pagination
            return Page(body, {}, total if total is not None else len(body), page, per_page)
        if not isinstance(body, dict) or "data" not in body:
            raise ApiError(response.status_code, "unexpected list answer", endpoint=endpoint)
        return Page(body["data"], body.get("links"), total, page, per_page)

    def iter_items(
        self, endpoint: str, params: Mapping[str, Any] | None = None, per_page: int | None = None
    ) -> Iterator[Any]:
        """Yield every item of a list endpoint, fetching page after page."""
        per_page = per_page or ALL_PAGES_PER_PAGE
        page_number = 1
        seen = 0
        while True:
            page = self.get_page(endpoint, params, page_number, per_page)
            yield from page.data
            seen += len(page.data)
            if not page.data:
                return
            if page.total is not None:
                if seen >= page.total:
                    return
            elif not page.links.get("next") or len(page.data) < per_page:
                return
            page_number += 1

    def get_all(
        self, endpoint: str, params: Mapping[str, Any] | None = None, per_page: int | None = None
    ) -> Page:
        """Every item of a list endpoint, as one :class:`Page`."""
        items = list(self.iter_items(endpoint, params, per_page))
        return Page(items, {}, len(items))

    def close(self) -> None:
        self.client.close()


def _decode(response: httpx.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _session_expired(exc: TokenRefused) -> AuthenticationError:
    return AuthenticationError(
        exc.status_code,
        "the session has expired; log in again",
        method="POST",
        endpoint="token/refresh",
        body=exc.body,
    )


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def connection_reason(exc: Exception) -> str:
    """Why a request did not reach the server, in a few words (no transport internals)."""
    text = str(exc)
    try:
        host = exc.request.url.host if isinstance(exc, httpx.RequestError) else None
    except RuntimeError:  # an httpx error raised without its request
        host = None
    if (
        "Name or service not known" in text
        or "nodename nor servname" in text
        or "Temporary failure in name resolution" in text
        or "No address associated" in text
    ):
        name = f"'{host}' " if host else ""
        return f"the host name {name}cannot be resolved (check the server URL)"
    if "Connection refused" in text:
        return "connection refused (is the server running?)"
    if "SSL" in text or "CERTIFICATE" in text.upper():
        return "the TLS (https) handshake failed (check the URL's scheme and certificate)"
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if "No route to host" in text or "Network is unreachable" in text:
        return "no route to the host (check the server URL and your network)"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the connection failed"
    return text[:200] or exc.__class__.__name__
