"""Emit Socket.IO events from request handlers, which run in worker threads."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import socketio

log = logging.getLogger(__name__)
NAMESPACE = "/tasks"


class EventEmitter:
    """Schedules emits on the server's event loop; never blocks the request thread."""

    def __init__(self, sio: socketio.AsyncServer) -> None:
        self.sio = sio
        self.loop: asyncio.AbstractEventLoop | None = None

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def emit(self, event: str, data: Any, room: str | None = None) -> None:
        if self.loop is None or self.loop.is_closed():
            log.debug("No event loop bound; dropping event %s", event)
            return
        coro = self.sio.emit(event, data, room=room, namespace=NAMESPACE)
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


def offer_room(node_id: int) -> str:
    """Nodes that asked for ``run_offer`` events (ours) join this room besides the others."""
    return f"node_{node_id}_offers"


ALL_NODES = "all_nodes"
