"""HTTP transport: one session, tokens, token refresh, error mapping and pagination."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests

from vantage6_client.exceptions import (
    ApiError,
    AuthenticationError,
    NotAuthenticatedError,
    ServerConnectionError,
    error_for_status,
)

log = logging.getLogger("vantage6_client")

#: Page size used when the client walks through every page for the caller.
ALL_PAGES_PER_PAGE = 100
#: Refresh the access token when it expires within this many seconds.
REFRESH_MARGIN = 60.0


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


def _token_expiry(token: str | None) -> float | None:
    if not token:
        return None
    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) else None


class Transport:
    """Talks HTTP to one server's API.

    ``base_url`` is the API root, e.g. ``http://127.0.0.1:5000/api``. Endpoints are given
    relative to it (``"organization/3"``; a leading ``/`` is allowed).
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
        self._local = threading.local()
        self._sessions: list[requests.Session] = []
        self._lock = threading.RLock()
        self.access_token: str | None = None
        self.refresh_token: str | None = None
        self.refresh_url: str | None = None

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session (sessions are not shared between threads)."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.verify = self.verify
            session.headers["User-Agent"] = "vantage6-next-client"
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    # -- tokens -----------------------------------------------------------------------------
    def set_tokens(
        self, access: str | None, refresh: str | None = None, refresh_url: str | None = None
    ) -> None:
        with self._lock:
            self.access_token = access
            self.refresh_token = refresh
            self.refresh_url = refresh_url or "token/refresh"

    def current_token(self) -> str:
        """A valid access token, refreshed first when it is about to expire."""
        with self._lock:
            if not self.access_token:
                raise NotAuthenticatedError("not logged in: call authenticate() first")
            expiry = _token_expiry(self.access_token)
            if expiry is not None and self.refresh_token and expiry - time.time() < REFRESH_MARGIN:
                self.refresh()
            return self.access_token

    def refresh(self) -> None:
        """Trade the refresh token for a new access (and refresh) token."""
        with self._lock:
            if not self.refresh_token:
                raise NotAuthenticatedError("no refresh token: log in again")
            url = self.url_for(self.refresh_url or "token/refresh")
            try:
                response = self.session.post(
                    url,
                    headers={"Authorization": f"Bearer {self.refresh_token}"},
                    timeout=self.timeout,
                )
            except requests.RequestException as exc:
                raise ServerConnectionError(url, connection_reason(exc)) from exc
            if response.status_code != 200:
                self.access_token = None
                raise AuthenticationError(
                    response.status_code,
                    "the session has expired; log in again",
                    method="POST",
                    endpoint="token/refresh",
                    body=_decode(response),
                )
            body = response.json()
            self.access_token = body["access_token"]
            self.refresh_token = body.get("refresh_token", self.refresh_token)
            log.debug("access token refreshed")

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
        :class:`ServerConnectionError` when the server cannot be reached.
        """
        method = method.upper()
        url = self.url_for(endpoint)
        query = clean_params(params)
        retried_auth = False
        attempts = 0
        while True:
            all_headers = dict(headers or {})
            if authenticated:
                all_headers["Authorization"] = f"Bearer {self.current_token()}"
            attempts += 1
            try:
                response = self.session.request(
                    method,
                    url,
                    params=query,
                    json=json,
                    headers=all_headers,
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                # only idempotent reads are retried; a write may have reached the server
                if method == "GET" and attempts < 3:
                    log.debug("connection problem on %s %s, retrying: %s", method, url, exc)
                    time.sleep(0.3 * attempts)
                    continue
                raise ServerConnectionError(url, connection_reason(exc)) from exc
            except requests.RequestException as exc:
                raise ServerConnectionError(url, connection_reason(exc)) from exc
            log.debug("%s %s %s -> %s", method, url, query or "", response.status_code)

            if (
                response.status_code == 401
                and authenticated
                and not retried_auth
                and self._token_may_be_stale()
            ):
                retried_auth = True
                self.refresh()
                continue
            if response.status_code >= 400:
                raise self._error(method, endpoint, response)
            if want_response:
                return response
            return _decode(response)

    def _token_may_be_stale(self) -> bool:
        expiry = _token_expiry(self.access_token)
        # a token without an expiry claim, or one that (nearly) expired, is worth refreshing;
        # a fresh token that is refused means the request itself is not allowed
        return bool(self.refresh_token) and (expiry is None or expiry - time.time() < 300)

    @staticmethod
    def _error(method: str, endpoint: str, response: requests.Response) -> ApiError:
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
            msg = response.reason or "error"
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
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
        self._local = threading.local()


def _decode(response: requests.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def connection_reason(exc: Exception) -> str:
    """Why a request did not reach the server, in a few words (no urllib3 internals such as
    "Max retries exceeded with url ... NameResolutionError(...)")."""
    text = str(exc)
    host = urlsplit(getattr(getattr(exc, "request", None), "url", "") or "").hostname
    if (
        "NameResolutionError" in text
        or "Name or service not known" in text
        or ("nodename nor servname" in text or "Temporary failure in name resolution" in text)
    ):
        name = f"'{host}' " if host else ""
        return f"the host name {name}cannot be resolved (check the server URL)"
    if "Connection refused" in text:
        return "connection refused (is the server running?)"
    if isinstance(exc, requests.exceptions.SSLError):
        return "the TLS (https) handshake failed (check the URL's scheme and certificate)"
    if isinstance(exc, requests.Timeout):
        return "no answer in time"
    if "No route to host" in text or "Network is unreachable" in text:
        return "no route to the host (check the server URL and your network)"
    if "Max retries exceeded" in text or "Connection aborted" in text:
        return "the connection failed"
    return text[:200]
