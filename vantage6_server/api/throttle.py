"""Per-client rate limits on the authentication endpoints: 429 with Retry-After.

Pure ASGI, in front of the framework. The client is the connection's address (uvicorn puts
the address from ``X-Forwarded-For`` there when the request comes from a trusted proxy,
``FORWARDED_ALLOW_IPS``). Logins, refreshes, password changes and resets are limited per
endpoint (``rate_limit_auth``); the two recovery mail endpoints share one budget
(``rate_limit_recover``).
"""

from __future__ import annotations

import json

from starlette.types import ASGIApp, Receive, Scope, Send

from vantage6_server.api.asgi_json import send_json
from vantage6_server.security.ratelimit import RateLimiter

AUTH_PATHS = (
    "/token/user",
    "/token/node",
    "/token/refresh",
    "/password/change",
    "/recover/reset",
    "/recover/2fa/reset",
)
RECOVER_PATHS = ("/recover/lost", "/recover/2fa/lost")
EXEMPT_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class AuthRateLimit:
    def __init__(
        self, app: ASGIApp, limiter: RateLimiter, api_path: str, any_origin: bool = False
    ) -> None:
        self.app = app
        self.limiter = limiter
        self.routes = {api_path + p: ("auth", api_path + p) for p in AUTH_PATHS}
        self.routes.update({api_path + p: ("recover", "recover") for p in RECOVER_PATHS})
        self.extra_headers = [(b"access-control-allow-origin", b"*")] if any_origin else []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in EXEMPT_METHODS:
            route = self.routes.get(scope["path"].rstrip("/"))
            if route is not None:
                limit, bucket = route
                client = scope.get("client")
                address = client[0] if client else "unknown"
                wait = self.limiter.hit(limit, f"{address} {bucket}")
                if wait is not None:
                    body = json.dumps(
                        {"msg": f"Too many requests; try again in {wait} seconds"}
                    ).encode()
                    headers = [(b"retry-after", str(wait).encode()), *self.extra_headers]
                    await send_json(send, 429, body, headers)
                    return
        await self.app(scope, receive, send)
