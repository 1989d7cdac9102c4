"""The node's link to the server: API key -> JWT (kept fresh) and the Socket.IO connection.

The socket is driven by an explicit state machine::

    idle -> connecting -> connected -> backoff -> connecting -> ... -> closed

Reconnection is ours (python-socketio's own is switched off) so that every attempt uses a fresh
token, waits a capped, jittered, exponentially growing delay, and is followed by a catch-up
(``on_connect``: the node fetches its open runs). Work on runs never waits for the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import jwt
import socketio

from vantage6_common.events import NAMESPACE, Event
from vantage6_node.backoff import Backoff
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable

log = logging.getLogger(__name__)

PING_INTERVAL = 60.0


class AuthenticationFailed(RuntimeError):
    """The server refused the API key (fatal: the configuration is wrong)."""


def _claims(token: str) -> dict[str, Any]:
    try:
        return jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}


class Authenticator:
    """Obtains the node JWT with the API key and refreshes it before it expires."""

    def __init__(self, api: ServerAPI, api_key: str, stop: asyncio.Event | None = None) -> None:
        self.api = api
        self.api_key = api_key
        self.stop = stop or asyncio.Event()
        self.access: str | None = None
        self.refresh: str | None = None
        self.expires_at: float = 0.0
        self.issued_at: float = 0.0
        self.node_id: int | None = None
        #: why the last login attempt could not reach the server (None after a success)
        self.last_error: str | None = None
        self._lock = asyncio.Lock()
        self.logins = 0
        self.refreshes = 0
        #: called with a token the server refused, once it has been replaced
        self.rejection_listeners: list[Callable[[str], None]] = []

    # token bookkeeping ---------------------------------------------------------------------------
    def _store(self, data: dict[str, Any]) -> None:
        access = data.get("access_token")
        if not access:
            raise AuthenticationFailed(f"no access token in the server's answer: {data}")
        claims = _claims(access)
        self.access = access
        self.refresh = data.get("refresh_token") or self.refresh
        now = time.time()
        self.issued_at = float(claims.get("iat", now))
        self.expires_at = float(claims.get("exp", now + 3600))
        sub = claims.get("sub")
        if isinstance(sub, dict):
            sub = sub.get("id") or sub.get("node_id")
        with contextlib.suppress(TypeError, ValueError):
            self.node_id = int(sub)

    @property
    def margin(self) -> float:
        """Refresh this long before expiry: a fifth of the lifetime, at most 5 minutes."""
        lifetime = max(1.0, self.expires_at - self.issued_at)
        return min(300.0, lifetime / 5)

    def needs_refresh(self) -> bool:
        return self.access is None or time.time() >= self.expires_at - self.margin

    # operations ----------------------------------------------------------------------------------
    async def login(self) -> None:
        """Exchange the API key for tokens; retry while the server is unreachable."""
        backoff = Backoff(base=0.5, cap=30.0)
        while True:
            try:
                data = await self.api.node_token(self.api_key)
            except ServerUnavailable as exc:
                self.last_error = str(exc)
                if self.stop.is_set():
                    raise
                delay = backoff.next()
                log.warning("cannot reach the server to log in (%s); retry in %.1fs", exc, delay)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=delay)
                if self.stop.is_set():
                    raise
                continue
            except ServerError as exc:
                if exc.status in (400, 401, 403, 404):
                    raise AuthenticationFailed(
                        f"the server refused the node's API key ({exc.status}: {exc.msg})"
                    ) from exc
                raise
            self._store(data)
            self.last_error = None
            self.logins += 1
            log.info("logged in as node %s", self.node_id)
            return

    async def _refresh(self) -> None:
        if self.refresh:
            try:
                self._store(await self.api.refresh_token(self.refresh))
                self.refreshes += 1
                log.debug("node token refreshed")
                return
            except ServerError as exc:
                log.info("token refresh refused (%s); logging in again", exc)
        await self.login()

    async def access_token(self) -> str:
        if self.needs_refresh():
            async with self._lock:
                if self.needs_refresh():
                    await self._refresh()
        assert self.access is not None
        return self.access

    async def token_rejected(self, token: str) -> None:
        """The server answered 401 to ``token``: get a new one (once per token)."""
        async with self._lock:
            if token and token != self.access:
                return  # someone already replaced it
            try:
                await self._refresh()
            except ServerError:
                await self.login()
        for listener in self.rejection_listeners:
            listener(token)

    async def force_login(self) -> None:
        async with self._lock:
            await self.login()

    async def keep_fresh(self) -> None:
        """Background task: refresh shortly before expiry."""
        while not self.stop.is_set():
            wait = max(1.0, self.expires_at - self.margin - time.time())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stop.wait(), timeout=wait)
            if self.stop.is_set():
                return
            try:
                await self.access_token()
            except (ServerUnavailable, ServerError) as exc:
                log.warning("could not refresh the node token: %s", exc)
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(self.stop.wait(), timeout=5)


class LinkState(StrEnum):
    IDLE = "idle"
    CONNECTING = "connecting"
    CONNECTED = "connected"
    BACKOFF = "backoff"
    CLOSED = "closed"


_ALLOWED = {
    LinkState.IDLE: {LinkState.CONNECTING, LinkState.CLOSED},
    LinkState.CONNECTING: {LinkState.CONNECTED, LinkState.BACKOFF, LinkState.CLOSED},
    LinkState.CONNECTED: {LinkState.BACKOFF, LinkState.CLOSED},
    LinkState.BACKOFF: {LinkState.CONNECTING, LinkState.CLOSED},
    LinkState.CLOSED: set(),
}

Handler = Callable[..., Awaitable[Any]]


class SocketLink:
    """Socket.IO connection to ``/tasks`` that keeps itself up."""

    def __init__(
        self,
        url: str,
        auth: Authenticator,
        handlers: dict[str, Handler],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        transports: list[str] | None = None,
        backoff: Backoff | None = None,
        connect_timeout: float = 10.0,
        ping_interval: float = PING_INTERVAL,
        features: list[str] | None = None,
    ) -> None:
        self.url = url
        self.auth = auth
        self.handlers = handlers
        #: extras this node understands, told to the server in the handshake's ``auth``
        #: (a vantage6 server ignores them)
        self.features = list(features or [])
        self.on_connect = on_connect
        self.transports = transports or ["websocket"]
        self.backoff = backoff or Backoff(base=0.5, cap=30.0)
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.state = LinkState.IDLE
        self.history: list[tuple[float, LinkState]] = [(time.time(), self.state)]
        self.connected = asyncio.Event()
        self.connections = 0
        #: why the last connection attempt failed or the connection was lost (None: connected)
        self.last_error: str | None = None
        self._sio: socketio.AsyncClient | None = None
        self._lost = asyncio.Event()
        self._closing = asyncio.Event()
        self._reconnect_now = asyncio.Event()
        #: the token of the current connection: when the server refuses it (a 401 to a request,
        #: or ``expired_token``), the connection is remade with the new one; a vantage6 4.x
        #: server keeps a connection made with an expired token open but gives it no rooms
        self._connected_with: str | None = None
        auth.rejection_listeners.append(self._token_rejected)

    def _token_rejected(self, token: str) -> None:
        if token and token == self._connected_with and self.state is LinkState.CONNECTED:
            log.info("the server refused the socket's token; reconnecting with the new one")
            self.reconnect()

    def _set(self, new: LinkState) -> None:
        if new == self.state:
            return
        if new not in _ALLOWED[self.state]:
            raise RuntimeError(f"socket link: illegal transition {self.state} -> {new}")
        log.debug("socket link %s -> %s", self.state, new)
        self.state = new
        self.history.append((time.time(), new))
        del self.history[:-50]
        if new == LinkState.CONNECTED:
            self.connected.set()
        else:
            self.connected.clear()

    # public ------------------------------------------------------------------------------------
    async def emit(self, event: str, data: Any = None) -> bool:
        """Send an event if connected; returns whether it was handed to the socket."""
        sio = self._sio
        if self.state != LinkState.CONNECTED or sio is None:
            return False
        try:
            await sio.emit(event, data, namespace=NAMESPACE)
            return True
        except Exception as exc:  # noqa: BLE001 - a dying socket may raise anything
            log.debug("emit %s failed: %s", event, exc)
            return False

    def reconnect(self) -> None:
        """Drop the current connection and connect again now (e.g. after a token change)."""
        self._reconnect_now.set()
        self._lost.set()

    async def close(self) -> None:
        self._closing.set()
        self._lost.set()
        sio = self._sio
        if sio is not None:
            with contextlib.suppress(Exception):
                await sio.disconnect()

    # the loop ----------------------------------------------------------------------------------
    def _make_client(self) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(reconnection=False, logger=False, engineio_logger=False)

        async def _disconnect(*_args: Any) -> None:
            self._lost.set()

        sio.on("disconnect", _disconnect, namespace=NAMESPACE)
        for event, handler in self.handlers.items():
            sio.on(event, _wrap(event, handler), namespace=NAMESPACE)
        return sio

    async def run(self) -> None:
        while not self._closing.is_set():
            self._set(LinkState.CONNECTING)
            self._lost.clear()
            self._reconnect_now.clear()
            sio = self._make_client()
            try:
                token = await self.auth.access_token()
                await asyncio.wait_for(
                    sio.connect(
                        self.url,
                        headers={"Authorization": f"Bearer {token}"},
                        auth={"features": self.features} if self.features else None,
                        namespaces=[NAMESPACE],
                        transports=self.transports,
                        socketio_path="socket.io",
                        wait_timeout=self.connect_timeout,
                    ),
                    timeout=self.connect_timeout + 5,
                )
            except (TimeoutError, Exception) as exc:  # noqa: BLE001
                with contextlib.suppress(Exception):
                    await sio.disconnect()
                if self._closing.is_set():
                    break
                delay = self.backoff.next()
                self.last_error = _short(exc)
                log.info("socket connect failed (%s); next attempt in %.1fs", _short(exc), delay)
                self._set(LinkState.BACKOFF)
                await self._pause(delay)
                continue

            self._sio = sio
            self._connected_with = token
            self.connections += 1
            self.backoff.reset()
            self.last_error = None
            self._set(LinkState.CONNECTED)
            log.info("socket connected (%s)", self.url)
            helpers = [asyncio.create_task(self._pinger(sio))]
            if self.on_connect is not None:
                helpers.append(asyncio.create_task(_guard("on_connect", self.on_connect)))
            waiter = asyncio.create_task(sio.wait())
            lost = asyncio.create_task(self._lost.wait())
            await asyncio.wait({waiter, lost}, return_when=asyncio.FIRST_COMPLETED)
            for task in (waiter, lost, helpers[0]):
                task.cancel()
            with contextlib.suppress(Exception):
                await sio.disconnect()
            self._sio = None
            if self._closing.is_set():
                break
            self._set(LinkState.BACKOFF)
            if self._reconnect_now.is_set():
                continue
            delay = self.backoff.next()
            self.last_error = "the connection to the server was lost"
            log.warning("socket connection lost; reconnecting in %.1fs", delay)
            await self._pause(delay)
        self._set(LinkState.CLOSED)

    async def _pause(self, delay: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._closing.wait(), timeout=delay)

    async def _pinger(self, sio: socketio.AsyncClient) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            with contextlib.suppress(Exception):
                await sio.emit(Event.PING, namespace=NAMESPACE)


def _short(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return text if len(text) < 200 else text[:200] + "..."


def _wrap(event: str, handler: Handler) -> Handler:
    async def run(*args: Any) -> None:
        # handlers run detached so that a slow one never blocks the socket's reader
        asyncio.create_task(_guard(event, handler, *args))

    return run


async def _guard(what: str, fn: Callable[..., Awaitable[Any]], *args: Any) -> None:
    try:
        await fn(*args)
    except asyncio.CancelledError:
        raise
    except Exception:  # noqa: BLE001
        log.exception("handler for %s failed", what)
