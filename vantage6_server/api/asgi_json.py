"""A JSON response sent straight through ASGI, for the layers in front of the framework."""

from __future__ import annotations

from collections.abc import Iterable

from starlette.types import Send


async def send_json(
    send: Send, status: int, body: bytes, extra_headers: Iterable[tuple[bytes, bytes]] = ()
) -> None:
    """Send ``body`` (already JSON-encoded) as the whole response."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                *extra_headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
