"""Reject request bodies above a size limit with 413, before they are read into memory."""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from vantage6_server.api.asgi_json import send_json


class BodySizeLimit:
    """Pure ASGI middleware: checks Content-Length and counts streamed bytes."""

    def __init__(self, app: ASGIApp, max_bytes: int, streamed_paths: frozenset[str] = frozenset()):
        self.app = app
        self.max_bytes = max_bytes
        self.streamed_paths = streamed_paths  # bodies that go to storage as they arrive

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.streamed_paths:
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                try:
                    too_big = int(value) > self.max_bytes
                except ValueError:
                    too_big = False
                if too_big:
                    await self._reject(send)
                    return
        received = 0
        rejected = False
        response_started = False
        answered = False

        async def counting_receive() -> Message:
            # The app turns any exception raised here into its own 400, so answer 413
            # ourselves and make the app see a disconnected client; its answer is dropped.
            nonlocal received, rejected, answered
            if rejected:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    rejected = True
                    if not response_started:
                        answered = True
                        await self._reject(send)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal response_started
            if answered:
                return
            if message["type"] == "http.response.start":
                response_started = True
            await send(message)

        await self.app(scope, counting_receive, guarded_send)

    async def _reject(self, send: Send) -> None:
        body = json.dumps({"msg": f"Request body larger than {self.max_bytes} bytes"}).encode()
        await send_json(send, 413, body)
