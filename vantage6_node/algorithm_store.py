"""The ``allowed_algorithm_stores`` check: did a trusted store approve this image, and which
digest is to run?

A task passes when (1) it names an algorithm store, (2) the server couples that store to the
task's collaboration (or to all), (3) the store's address is on ``allowed_algorithm_stores``,
(4) the store lists the image as approved, with the digest it recorded on submission, and
(5) the image is that digest: a task pinned to a digest (``image@sha256:...``, as a vantage6
4.x server writes it) must name the approved one; a task by tag is looked up in the registry,
and a tag that points elsewhere now (moved after approval) is refused. The run then uses
``name@<approved digest>``, so what runs is what was reviewed.

The node reads the store without credentials: it has no user token to pass on (a vantage6
4.x server passes on the task creator's), and its own server token is for its server only.
A store must therefore show its approved algorithms publicly (``algorithm_view: public``).
"""

from __future__ import annotations

import logging
from typing import Any

import httpx

from vantage6_common.registry import ImageReference, RegistryError
from vantage6_common.related import related_id
from vantage6_node.policies import DigestOf, StoreVerdict, store_allowed
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable
from vantage6_node.threads import in_thread

log = logging.getLogger(__name__)

#: seconds a store may take to answer
STORE_TIMEOUT = 15.0
APPROVED = "approved"


class StoreUnreadable(Exception):
    """The store did not list its algorithms for the node (unreachable, refused, garbled)."""


class StoreReader:
    """Reads approved algorithms from a store's REST API (``GET {store}/api/algorithm``)."""

    def __init__(self, server_api_url: str, timeout: float = STORE_TIMEOUT) -> None:
        self.server_api_url = server_api_url
        self.timeout = timeout
        self._client = httpx.Client()  # thread-safe; one TLS context for all calls

    def approved(self, store_url: str, image: str) -> list[dict[str, Any]]:
        """The store's approved algorithms with exactly this image (name and tag)."""
        url = f"{store_url.rstrip('/')}/api/algorithm"
        try:
            response = self._client.get(
                url,
                params={"image": image, "per_page": 100},
                # which server's users ask (4.x stores read it as Server-Url)
                headers={"server_url": self.server_api_url},
                timeout=self.timeout,
            )
        except (httpx.HTTPError, ValueError) as exc:
            raise StoreUnreadable(f"cannot be reached: {type(exc).__name__}: {exc}") from exc
        if response.status_code != 200:
            raise StoreUnreadable(f"answered HTTP {response.status_code}: {_message(response)}")
        try:
            data = response.json()["data"]
        except (ValueError, KeyError, TypeError) as exc:
            raise StoreUnreadable("answered something that is not a page of algorithms") from exc
        if not isinstance(data, list):
            raise StoreUnreadable("answered something that is not a page of algorithms")
        return [
            algo
            for algo in data
            if isinstance(algo, dict)
            and algo.get("image") == image
            and algo.get("status", APPROVED) == APPROVED
        ]


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("msg", body))[:200] if isinstance(body, dict) else str(body)[:200]


class StoreCheck:
    """Finds out whether a task's image comes approved from a store this node trusts."""

    def __init__(
        self,
        api: ServerAPI,
        allowed_stores: list[str],
        reader: StoreReader,
        digest_of: DigestOf,
    ) -> None:
        self.api = api
        self.allowed_stores = allowed_stores
        self.reader = reader
        self.digest_of = digest_of

    async def verdict(
        self, image: str, store_id: int | None, collaboration_id: int | None
    ) -> StoreVerdict:
        if store_id is None:
            return StoreVerdict(
                False,
                "the task names no algorithm store (this node runs "
                "only algorithms from allowed_algorithm_stores)",
            )
        try:
            store = await self.api.get_algorithm_store(store_id)
        except ServerError as exc:
            if exc.status in (401, 403, 404):  # nodes see the stores of their collaboration
                return StoreVerdict(
                    False,
                    f"algorithm store {store_id} is not coupled to collaboration "
                    f"{collaboration_id} (the server answered {exc})",
                )
            return StoreVerdict(False, f"algorithm store {store_id} cannot be read: {exc}")
        except ServerUnavailable as exc:
            return StoreVerdict(False, f"algorithm store {store_id} cannot be read: {exc}")
        url = str(store.get("url") or "")
        coupled_to = related_id(store.get("collaboration"))
        if coupled_to is not None and coupled_to != collaboration_id:
            return StoreVerdict(
                False,
                f"algorithm store {url!r} is not coupled to collaboration {collaboration_id}",
            )
        if not store_allowed(self.allowed_stores, url):
            return StoreVerdict(
                False, f"algorithm store {url!r} is not in allowed_algorithm_stores"
            )
        try:
            ref = ImageReference.parse(image)
        except ValueError as exc:
            return StoreVerdict(False, str(exc))
        try:
            algorithms = await in_thread(self.reader.approved, url, ref.named)
        except StoreUnreadable as exc:
            return StoreVerdict(False, f"algorithm store {url!r} {exc}")
        if not algorithms:
            return StoreVerdict(False, f"image {ref.named} is not approved in store {url!r}")
        approved = sorted({str(a["digest"]) for a in algorithms if a.get("digest")})
        if not approved:
            return StoreVerdict(
                False, f"store {url!r} recorded no digest for {ref.named}: it cannot be pinned"
            )
        return await self._pin(ref, url, approved)

    async def _pin(self, ref: ImageReference, url: str, approved: list[str]) -> StoreVerdict:
        """The run's reference: the approved digest the task names or its tag points to."""
        listed = ", ".join(approved)
        if ref.digest is not None:
            if ref.digest in approved:
                return StoreVerdict(True, image=ref.pinned(ref.digest))
            return StoreVerdict(
                False,
                f"{ref.named}@{ref.digest} is not the digest store {url!r} approved ({listed})",
            )
        try:
            current = await in_thread(self.digest_of, ref.named)
        except (RegistryError, ValueError) as exc:
            return StoreVerdict(False, f"cannot check which digest {ref.named} is now: {exc}")
        if current not in approved:
            return StoreVerdict(
                False,
                f"the tag {ref.named} moved: it points to {current} now, store {url!r} "
                f"approved {listed}",
            )
        log.info("image %s is approved by store %s as %s", ref.named, url, current)
        return StoreVerdict(True, image=ref.pinned(current))
