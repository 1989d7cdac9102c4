"""Emit Socket.IO events from request handlers, which run in worker threads."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio

from vantage6_common.events import NAMESPACE

log = logging.getLogger(__name__)


class EventEmitter:
    """Schedules emits on the server's event loop; never blocks the request thread."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def emit(self, event: str, data: Any, room: str | None = None) -> None:
        self._schedule(self.sio.emit(event, data, room=room, namespace=NAMESPACE), event)

    def disconnect_users(self, user_ids: list[int]) -> None:
        """Close the Socket.IO connections of these users on this instance (deleted accounts).

        Connections to other instances are closed by their periodic check
        (``events.socket.revalidate_users``).
        """
        for user_id in user_ids:
            self._schedule(self._disconnect_room(user_room(user_id)), "disconnect")

    async def _disconnect_room(self, room: str) -> None:
        for sid, _eio_sid in list(self.sio.manager.get_participants(NAMESPACE, room)):
            await self.sio.disconnect(sid, namespace=NAMESPACE)

    def _schedule(self, coro: Any, what: str) -> None:
        if self.loop is None or self.loop.is_closed():
            log.debug("No event loop bound; dropping %s", what)
            coro.close()
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            self.loop.create_task(coro)
        else:
            asyncio.run_coroutine_threadsafe(coro, self.loop)


def collaboration_room(collaboration_id: int) -> str:
    return f"collaboration_{collaboration_id}"


def organization_room(collaboration_id: int, organization_id: int) -> str:
    return f"collaboration_{collaboration_id}_organization_{organization_id}"


def user_room(user_id: int) -> str:
    """Every connection of a user, so that it can be closed when the account goes."""
    return f"user_{user_id}"


def offer_room(node_id: int) -> str:
    """Nodes that asked for ``run_offer`` events (ours) join this room besides the others."""
    return f"node_{node_id}_offers"


ALL_NODES = "all_nodes"
