"""Container registries: image references, and which manifest a tag points to right now.

The digest of an image is the digest of its manifest, as the registry reports it in the
``Docker-Content-Digest`` header of the Registry HTTP API v2 (``HEAD /v2/<repo>/manifests/<tag>``).
Anonymous access is tried first; a ``Bearer`` challenge is answered with an anonymous token
from the realm it names (Docker Hub, GitHub and Harbor work that way). A registry on a loopback
address is asked over HTTPS and then over plain HTTP (a local test registry has no TLS).
"""

from __future__ import annotations

import functools
import hashlib
import re
from dataclasses import dataclass

import httpx

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "registry-1.docker.io"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
DIGEST_PATTERN = re.compile(r"^sha256:[0-9a-f]{64}$")
_NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:[._-]+[a-z0-9]+)*(?:/[a-z0-9]+(?:[._-]+[a-z0-9]+)*)*$")
_TAG_PATTERN = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")


class RegistryError(Exception):
    """The registry could not tell (unreachable, unknown image, refused): a one-line reason."""


@dataclass(frozen=True)
class ImageReference:
    """``[registry/]repository[:tag][@digest]``; ``name`` is the part before tag and digest."""

    name: str
    registry: str
    repository: str
    tag: str | None
    digest: str | None

    @classmethod
    def parse(cls, image: str) -> ImageReference:
        """The parts of ``image``; ValueError when it is not an image reference."""
        if not image or any(c.isspace() for c in image) or len(image) > 1024:
            raise ValueError(f"{image!r} is not an image reference")
        rest, _, digest = image.partition("@")
        tag = None
        last_slash = rest.rfind("/")
        colon = rest.rfind(":")
        if colon > last_slash:
            rest, tag = rest[:colon], rest[colon + 1 :]
        first, _, path = rest.partition("/")
        if path and ("." in first or ":" in first or first == "localhost"):
            registry, repository = first, path
        else:
            registry, repository = DOCKER_HUB, rest if path else f"library/{rest}"
        if not _NAME_PATTERN.match(repository):
            raise ValueError(f"{image!r} has an invalid repository name")
        if tag is not None and not _TAG_PATTERN.match(tag):
            raise ValueError(f"{image!r} has an invalid tag")
        if digest and not DIGEST_PATTERN.match(digest):
            raise ValueError(f"{image!r} has an invalid digest (expected sha256:<64 hex>)")
        return cls(rest, registry, repository, tag, digest or None)

    @property
    def named(self) -> str:
        """Name and tag (no digest): what a registry resolves."""
        return f"{self.name}:{self.tag}" if self.tag else self.name

    def pinned(self, digest: str) -> str:
        """The reference that names exactly ``digest`` (``name@sha256:...``)."""
        return f"{self.name}@{digest}"


def _schemes(registry: str) -> list[str]:
    host = registry.rsplit(":", 1)[0] if not registry.startswith("[") else registry
    return ["https", "http"] if host in _LOOPBACK else ["https"]


@functools.cache
def _client() -> httpx.Client:
    """One client for all registry calls (thread-safe; its TLS context is made once)."""
    return httpx.Client(follow_redirects=True)


def _anonymous_token(challenge: str, timeout: float) -> str | None:
    """A token for a ``Bearer realm=...,service=...,scope=...`` challenge, or None."""
    fields = dict(re.findall(r'(\w+)="([^"]*)"', challenge))
    realm = fields.pop("realm", None)
    if not challenge.lower().startswith("bearer") or not realm:
        return None
    response = _client().get(realm, params=fields, timeout=timeout)
    if response.status_code != 200:
        return None
    body = response.json()
    token = body.get("token") or body.get("access_token")
    return token if isinstance(token, str) else None


def _ask(url: str, timeout: float) -> httpx.Response:
    headers = {"Accept": MANIFEST_TYPES}
    response = _client().head(url, headers=headers, timeout=timeout)
    if response.status_code == 401:
        token = _anonymous_token(response.headers.get("www-authenticate", ""), timeout)
        if token:
            headers["Authorization"] = f"Bearer {token}"
            response = _client().head(url, headers=headers, timeout=timeout)
    if response.status_code == 200 and not response.headers.get("docker-content-digest"):
        response = _client().get(url, headers=headers, timeout=timeout)
    return response


def manifest_digest(image: str, timeout: float = 10.0) -> str:
    """The digest ``image`` points to now (a pinned digest is returned as it is).

    Raises ValueError for a malformed reference and :class:`RegistryError` when the registry
    cannot tell.
    """
    ref = ImageReference.parse(image)
    if ref.digest:
        return ref.digest
    host = DOCKER_HUB_API if ref.registry == DOCKER_HUB else ref.registry
    path = f"/v2/{ref.repository}/manifests/{ref.tag or 'latest'}"
    failures: list[str] = []
    for scheme in _schemes(ref.registry):
        try:
            response = _ask(f"{scheme}://{host}{path}", timeout)
        except (httpx.HTTPError, ValueError) as exc:
            failures.append(f"{scheme}: {type(exc).__name__}: {exc}".rstrip(": "))
            continue
        if response.status_code == 200:
            digest = str(response.headers.get("docker-content-digest") or "")
            if not digest and response.request.method == "GET":
                digest = "sha256:" + hashlib.sha256(response.content).hexdigest()
            if digest and DIGEST_PATTERN.match(digest):
                return digest
            raise RegistryError(f"registry {ref.registry} did not name the digest of {image}")
        if response.status_code == 404:
            raise RegistryError(f"image {ref.named} is not in registry {ref.registry}")
        if response.status_code in (401, 403):
            raise RegistryError(f"registry {ref.registry} refused to show {ref.named}")
        raise RegistryError(
            f"registry {ref.registry} answered HTTP {response.status_code} for {ref.named}"
        )
    raise RegistryError(f"registry {ref.registry} cannot be reached ({'; '.join(failures)})")
