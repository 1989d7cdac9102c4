"""Pinning a task's image to the digest its algorithm store approved, as vantage6 4.14 does.

When a user creates a task that names a store, the server asks that store for the approved
algorithm with the task's image (``GET {store}/api/algorithm?image=...``, with the user's own
token and this server's address in the ``server_url`` header, so whitelisted and private
stores answer as they would the user) and records ``image@digest`` of the approved version.
A store that knows the image but has no digest for it leaves the image as given and the task
without a store (4.14 drops it: nothing was checked). Everything else is a 400, as in 4.14:
no approved algorithm with that image, a pin that is not the approved digest, a store that
answers with an error or cannot be reached; no task is created then.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from vantage6_common.http import message_of
from vantage6_common.service.errors import ApiError

#: seconds to wait for the store (connect and read)
STORE_TIMEOUT = httpx.Timeout(10.0, connect=3.0)


@dataclass(frozen=True)
class Pinned:
    """What the task records: its image and whether it keeps the store it named."""

    image: str
    keeps_store: bool


def _error(msg: str) -> ApiError:
    return ApiError(400, f"Could not retrieve algorithm from store! {msg}")


def _ask_store(store_url: str, image: str, server_url: str, authorization: str | None) -> dict:
    """The store's answer to ``GET /algorithm?image=...`` (a page), or a 400."""
    headers = {"server_url": server_url}
    if authorization:
        headers["Authorization"] = authorization
    url = f"{store_url.rstrip('/')}/api/algorithm"
    try:
        response = httpx.get(url, params={"image": image}, headers=headers, timeout=STORE_TIMEOUT)
    except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:  # ValueError: bad host name
        raise _error(
            f"Algorithm store cannot be reached at {store_url}/api ({type(exc).__name__})"
        ) from exc
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200:
        raise _error(
            f"Algorithm store error: {message_of(body) or 'no message'}, "
            f"HTTP status: {response.status_code}"
        )
    if not isinstance(body, dict) or not isinstance(body.get("data"), list):
        raise _error("The algorithm store's answer is not a list of algorithms")
    return body


def pin_image(store_url: str, image: str, server_url: str, authorization: str | None) -> Pinned:
    """The image a task from ``store_url`` runs: ``image@digest`` of the approved version."""
    found = _ask_store(store_url, image, server_url, authorization)["data"]
    if not found:
        raise _error(f"Algorithm not found in store: no approved algorithm has image '{image}'")
    algorithm = found[0]
    approved_image = algorithm.get("image") if isinstance(algorithm, dict) else None
    digest = algorithm.get("digest") if isinstance(algorithm, dict) else None
    if not isinstance(approved_image, str) or not approved_image:
        raise _error("The algorithm store's answer has no image")
    if not isinstance(digest, str) or not digest:
        return Pinned(image=approved_image, keeps_store=False)
    approved_image = approved_image.partition("@")[0]
    _, _, asked_digest = image.partition("@")
    if asked_digest and asked_digest != digest:
        raise _error(
            f"The image '{image}' is pinned to '{asked_digest}', but the store approved "
            f"digest '{digest}'"
        )
    return Pinned(image=f"{approved_image}@{digest}", keeps_store=True)
