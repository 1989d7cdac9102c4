"""Answers that never change, sent before the framework and its middleware stack.

``GET /api/version`` and ``GET /api/blobstream/status`` are called before almost every client
action (the published vantage6 client checks the blob store before each task); they need no
authentication and no database, so they are answered by a few lines of ASGI.
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from vantage6_server.api.asgi_json import send_json


class StaticAnswers:
    """Pure ASGI: fixed JSON for some GET paths, everything else to the wrapped app."""

    def __init__(self, app: ASGIApp, answers: dict[str, dict], any_origin: bool = False) -> None:
        self.app = app
        self.extra_headers = [(b"access-control-allow-origin", b"*")] if any_origin else []
        self.answers = {
            path: json.dumps(body, separators=(",", ":")).encode() for path, body in answers.items()
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            body = self.answers.get(scope["path"])
            if body is not None:
                await send_json(send, 200, body, self.extra_headers)
                return
        await self.app(scope, receive, send)
