"""Socket.IO listener that wakes task waiters when the server reports run changes.

The server sends ``status_update {run_id}`` and ``algorithm_status_change {task_id, run_id,
status, ...}`` on namespace ``/tasks`` to the collaboration rooms. The rooms a user is in are
chosen by the server when the connection is made, so a collaboration the user joined (or
created) after connecting is only covered after a reconnect: :meth:`TaskEvents.ensure` does
that once per new collaboration.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import socketio

from vantage6_common.events import NAMESPACE, Event

log = logging.getLogger("vantage6_client.events")

WATCHED_EVENTS = (Event.STATUS_UPDATE, Event.ALGORITHM_STATUS_CHANGE)
#: After a failed connection attempt, do not try again for this long.
RETRY_AFTER = 30.0


class TaskEvents:
    """A lazily connected Socket.IO client that counts run events.

    Waiters take a snapshot of :attr:`sequence`, check the server, then call
    :meth:`wait_after` with the snapshot: an event that arrived while they were checking wakes
    them at once, so no change is lost between the check and the wait.
    """

    def __init__(
        self,
        origin: str,
        token: Callable[[], str],
        socketio_path: str = "socket.io",
        connect_timeout: float = 5.0,
    ) -> None:
        self.origin = origin
        self._token = token
        self.socketio_path = socketio_path.strip("/") or "socket.io"
        self.connect_timeout = connect_timeout
        self._cond = threading.Condition()
        self._sequence = 0
        self._events: list[tuple[int, str, dict[str, Any]]] = []
        self._covered: set[int] = set()
        self._failed_at: float | None = None
        self._sio: socketio.Client | None = None
        self._lock = threading.Lock()
        self.last_error: str | None = None

    # -- state ------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        sio = self._sio
        return bool(sio is not None and sio.connected and NAMESPACE in sio.namespaces)

    @property
    def sequence(self) -> int:
        with self._cond:
            return self._sequence

    # -- connection -------------------------------------------------------------------------
    def ensure(self, collaboration_id: int | None) -> bool:
        """Be connected in a way that receives events of ``collaboration_id``.

        Returns False when no connection can be made (the caller then polls).
        """
        with self._lock:
            if self.connected and (collaboration_id is None or collaboration_id in self._covered):
                return True
            if self._failed_at is not None and time.monotonic() - self._failed_at < RETRY_AFTER:
                return False
            if self._sio is not None:
                # a reconnect makes the server place us in the rooms of today's collaborations
                self._disconnect()
            ok = self._connect()
            if ok and collaboration_id is not None:
                self._covered.add(collaboration_id)
            return ok

    def _connect(self) -> bool:
        sio = socketio.Client(reconnection=True, reconnection_delay=0.5, logger=False)
        for name in WATCHED_EVENTS:
            sio.on(name, self._make_handler(name), namespace=NAMESPACE)
        sio.on(Event.EXPIRED_TOKEN, self._on_bad_token, namespace=NAMESPACE)
        sio.on(Event.INVALID_TOKEN, self._on_bad_token, namespace=NAMESPACE)
        try:
            sio.connect(
                self.origin,
                # called again on every automatic reconnect, so a refreshed token is used
                headers=lambda: {"Authorization": f"Bearer {self._token()}"},
                namespaces=[NAMESPACE],
                socketio_path=self.socketio_path,
                wait_timeout=self.connect_timeout,
            )
        except Exception as exc:  # noqa: BLE001 - any failure means: fall back to polling
            self.last_error = str(exc) or type(exc).__name__
            self._failed_at = time.monotonic()
            log.info("no event connection (%s); falling back to polling", self.last_error)
            try:
                sio.disconnect()
            except Exception:  # noqa: BLE001
                pass
            return False
        self._sio = sio
        self._failed_at = None
        self.last_error = None
        log.debug("event connection open (namespace %s)", NAMESPACE)
        return True

    def _disconnect(self) -> None:
        sio, self._sio = self._sio, None
        if sio is not None:
            try:
                sio.disconnect()
            except Exception:  # noqa: BLE001
                pass

    def close(self) -> None:
        with self._lock:
            self._disconnect()
            self._covered.clear()
        with self._cond:
            self._cond.notify_all()

    # -- events -----------------------------------------------------------------------------
    def _make_handler(self, name: str) -> Callable[[Any], None]:
        def handler(data: Any = None) -> None:
            payload = data if isinstance(data, dict) else {}
            with self._cond:
                self._sequence += 1
                self._events.append((self._sequence, name, payload))
                if len(self._events) > 1000:
                    del self._events[:500]
                self._cond.notify_all()

        return handler

    def _on_bad_token(self, *_: Any) -> None:
        log.info("the server refused the event connection's token")
        self.last_error = "token refused"

    def since(self, sequence: int, until: int | None = None) -> list[tuple[str, dict[str, Any]]]:
        """Events numbered after ``sequence`` (up to ``until``), oldest first."""
        with self._cond:
            return [
                (name, payload)
                for seq, name, payload in self._events
                if seq > sequence and (until is None or seq <= until)
            ]

    def wait_after(
        self,
        sequence: int,
        timeout: float,
        relevant: Callable[[str, dict[str, Any]], bool] | None = None,
    ) -> bool:
        """Block until an event newer than ``sequence`` arrives (True) or ``timeout`` (False).

        With ``relevant``, only events for which it returns True count.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        with self._cond:
            while True:
                for seq, name, payload in self._events:
                    if seq > sequence and (relevant is None or relevant(name, payload)):
                        return True
                if self._events:
                    sequence = max(sequence, self._events[-1][0])
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
