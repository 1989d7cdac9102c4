"""The node's link to the server: API key -> JWT (kept fresh) and the Socket.IO connection.

The socket is driven by an explicit state machine::

    idle -> connecting -> connected -> backoff -> connecting -> ... -> closed

python-socketio reconnects by itself, asking for the current token at every attempt; each
connection is followed by a catch-up (``on_connect``: the node fetches its open runs). When the
server refuses the token a connection was made with, the node renews it and connects anew.
Work on runs never waits for the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from enum import StrEnum
from typing import Any

import socketio

from vantage6_common.events import NAMESPACE, Event
from vantage6_common.http import TokenAuth, TokenRefused, message_of, token_claims
from vantage6_common.retry import SERVER_CAP, SERVER_INITIAL, aretrying
from vantage6_node.server_api import (
    UNREACHABLE,
    ServerAPI,
    ServerError,
    ServerUnavailable,
    refused_error,
)

log = logging.getLogger(__name__)

PING_INTERVAL = 60.0


class AuthenticationFailed(RuntimeError):
    """The server refused the API key (fatal: the configuration is wrong)."""


class Authenticator:
    """The node's JWT: obtained with the API key, renewed before it expires and when refused.

    The renewal itself is :class:`~vantage6_common.http.TokenAuth`'s (shared with the Python
    client); this class adds what a node needs around it: waiting for an unreachable server, a
    refused API key as a fatal error, and a background task that renews ahead of expiry.
    """

    def __init__(self, api: ServerAPI, api_key: str, stop: asyncio.Event | None = None) -> None:
        self.api = api
        self.stop = stop or asyncio.Event()
        self.tokens = TokenAuth(
            api.url("token/refresh"),
            login_url=api.url("token/node"),
            login_body={"api_key": api_key},
        )
        api.auth = self.tokens
        self.node_id: int | None = None
        #: why the last login attempt could not reach the server (None after a success)
        self.last_error: str | None = None
        #: called with a token the server refused, once it has been replaced
        self.rejection_listeners = self.tokens.listeners

    @property
    def access(self) -> str | None:
        return self.tokens.access

    @property
    def expires_at(self) -> float:
        return self.tokens.expires_at

    @property
    def logins(self) -> int:
        return self.tokens.logins

    @property
    def refreshes(self) -> int:
        return self.tokens.refreshes

    # operations ----------------------------------------------------------------------------------
    async def login(self) -> None:
        """Exchange the API key for tokens; retry while the server is unreachable."""
        self.tokens.refresh = None  # a login, not a refresh
        retrier = aretrying(
            ServerUnavailable,
            stop_event=self.stop,
            log=log,
            what="cannot reach the server to log in",
            level=logging.WARNING,
        )
        async for attempt in retrier:
            with attempt:
                await self._renew(force=True)
        self.last_error = None
        log.info("logged in as node %s", self.node_id)

    async def _renew(self, force: bool = False) -> str:
        try:
            token = await self.tokens.atoken(self.api.client, force=force)
        except TokenRefused as exc:
            if exc.status_code in (400, 401, 403, 404):
                raise AuthenticationFailed(
                    f"the server refused the node's API key ({exc.status_code}: "
                    f"{message_of(exc.body)})"
                ) from exc
            raise refused_error(exc) from exc
        except UNREACHABLE as exc:
            self.last_error = f"{exc.__class__.__name__}: {exc}"
            raise ServerUnavailable(self.last_error) from exc
        if not token:
            raise AuthenticationFailed("the server's answer has no access token")
        self.node_id = _node_id(token)
        return token

    async def access_token(self) -> str:
        """The node's token, renewed first when it is about to expire."""
        return await self._renew()

    async def token_rejected(self, token: str) -> None:
        """The server refused ``token``: get a new one (once per token)."""
        if token and token != self.tokens.access:
            return  # someone already replaced it
        await self._renew(force=True)
        for listener in self.rejection_listeners:
            listener(token)

    async def force_login(self) -> None:
        await self.login()

    async def keep_fresh(self) -> None:
        """Background task: renew shortly before expiry."""
        while not self.stop.is_set():
            wait = max(1.0, self.tokens.expires_at - self.tokens.margin - time.time())
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


def _node_id(token: str) -> int | None:
    sub = token_claims(token).get("sub")
    if isinstance(sub, dict):
        sub = sub.get("id") or sub.get("node_id")
    try:
        return int(sub)
    except (TypeError, ValueError):
        return None


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
    """Socket.IO connection to ``/tasks`` that keeps itself up.

    python-socketio reconnects a dropped connection by itself (``reconnection_delay`` growing to
    ``reconnection_delay_max``, with jitter); it asks :meth:`_headers` for the current token at
    each attempt. This class connects the first time (with the retry policy of
    :mod:`vantage6_common.retry`), follows the state, and connects anew at once when the token
    the connection was made with is refused (:meth:`reconnect`).
    """

    def __init__(
        self,
        url: str,
        auth: Authenticator,
        handlers: dict[str, Handler],
        on_connect: Callable[[], Awaitable[None]] | None = None,
        transports: list[str] | None = None,
        reconnect_delay: float = SERVER_INITIAL,
        reconnect_delay_max: float = SERVER_CAP,
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
        self.reconnect_delay = reconnect_delay
        self.reconnect_delay_max = reconnect_delay_max
        self.connect_timeout = connect_timeout
        self.ping_interval = ping_interval
        self.state = LinkState.IDLE
        self.history: list[tuple[float, LinkState]] = [(time.time(), self.state)]
        self.connected = asyncio.Event()
        self.connections = 0
        #: why the last connection attempt failed or the connection was lost (None: connected)
        self.last_error: str | None = None
        self._sio: socketio.AsyncClient | None = None
        self._closing = asyncio.Event()
        self._reconnect_now = asyncio.Event()
        self._helpers: set[asyncio.Task[Any]] = set()
        #: the token of the current connection: when the server refuses it (a 401 to a request,
        #: or ``expired_token``), the connection is remade with the new one; a vantage6 4.x
        #: server keeps a connection made with an expired token open but gives it no rooms
        self._connected_with: str | None = None
        self._offered: str | None = None
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

    async def close(self) -> None:
        self._closing.set()
        sio = self._sio
        if sio is not None:
            with contextlib.suppress(Exception):
                await sio.disconnect()

    # socket.io callbacks -----------------------------------------------------------------------
    async def _headers(self) -> dict[str, str]:
        """The handshake's headers, asked for at each (re)connection attempt; never raises (an
        exception would end python-socketio's reconnection)."""
        if self.state in (LinkState.IDLE, LinkState.BACKOFF):
            self._set(LinkState.CONNECTING)
        token = self.auth.access
        try:
            token = await asyncio.wait_for(self.auth.access_token(), self.connect_timeout)
        except Exception as exc:  # noqa: BLE001 - try with the token we have
            log.debug("socket handshake without a renewed token: %s", exc)
        self._offered = token
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def _connected(self) -> None:
        if self.state in (LinkState.IDLE, LinkState.BACKOFF):
            self._set(LinkState.CONNECTING)
        self._connected_with = self._offered
        self.connections += 1
        self.last_error = None
        self._set(LinkState.CONNECTED)
        log.info("socket connected (%s)", self.url)
        if self.on_connect is not None:
            self._spawn(_guard("on_connect", self.on_connect))

    async def _disconnected(self, *_args: Any) -> None:
        if self.state is not LinkState.CONNECTED or self._closing.is_set():
            return
        if not self._reconnect_now.is_set():
            self.last_error = "the connection to the server was lost"
            log.warning("socket connection lost; reconnecting")
        self._set(LinkState.BACKOFF)

    async def _connect_error(self, data: Any = None) -> None:
        self.last_error = _short(Exception(data)) if data else "connection refused"
        if self.state is LinkState.CONNECTING:
            self._set(LinkState.BACKOFF)
        log.info("socket connect failed (%s)", self.last_error)

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._helpers.add(task)
        task.add_done_callback(self._helpers.discard)

    # the loop ----------------------------------------------------------------------------------
    def _make_client(self) -> socketio.AsyncClient:
        sio = socketio.AsyncClient(
            reconnection=True,
            reconnection_delay=self.reconnect_delay,
            reconnection_delay_max=self.reconnect_delay_max,
            logger=False,
            engineio_logger=False,
        )
        sio.on("connect", self._connected, namespace=NAMESPACE)
        sio.on("disconnect", self._disconnected, namespace=NAMESPACE)
        sio.on("connect_error", self._connect_error, namespace=NAMESPACE)
        for event, handler in self.handlers.items():
            sio.on(event, _wrap(event, handler), namespace=NAMESPACE)
        return sio

    async def _connect(self, sio: socketio.AsyncClient) -> None:
        try:
            await asyncio.wait_for(
                sio.connect(
                    self.url,
                    headers=self._headers,
                    auth={"features": self.features} if self.features else None,
                    namespaces=[NAMESPACE],
                    transports=self.transports,
                    socketio_path="socket.io",
                    wait_timeout=self.connect_timeout,
                ),
                timeout=self.connect_timeout + 5,
            )
        except Exception as exc:
            with contextlib.suppress(Exception):
                await sio.disconnect()
            self.last_error = _short(exc)
            if self.state is LinkState.CONNECTING:
                self._set(LinkState.BACKOFF)
            raise

    async def run(self) -> None:
        sio = self._sio = self._make_client()
        pinger = asyncio.create_task(self._pinger(sio))
        retrier = aretrying(
            Exception,
            initial=self.reconnect_delay,
            cap=self.reconnect_delay_max,
            stop_event=self._closing,
            log=log,
            what="socket connect failed",
            level=logging.INFO,
        )
        try:
            while not self._closing.is_set():
                self._reconnect_now.clear()
                with contextlib.suppress(Exception):
                    async for attempt in retrier:
                        with attempt:
                            await self._connect(sio)
                if self._closing.is_set():
                    break
                # python-socketio keeps the connection up from here on; it ends for good only
                # when the server disconnects us, or we drop it to use a new token
                ended = asyncio.create_task(sio.wait())
                again = asyncio.create_task(self._reconnect_now.wait())
                closing = asyncio.create_task(self._closing.wait())
                await asyncio.wait({ended, again, closing}, return_when=asyncio.FIRST_COMPLETED)
                # disconnect before cancelling sio.wait(): cancelling it while it awaits
                # the engine.io read loop would cancel that loop too
                with contextlib.suppress(Exception):
                    await sio.disconnect()
                for task in (ended, again, closing):
                    task.cancel()
                if self.state is LinkState.CONNECTED:
                    self._set(LinkState.BACKOFF)
        finally:
            pinger.cancel()
            self._sio = None
            self._set(LinkState.CLOSED)

    async def _pinger(self, sio: socketio.AsyncClient) -> None:
        while True:
            await asyncio.sleep(self.ping_interval)
            if self.state is LinkState.CONNECTED:
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
