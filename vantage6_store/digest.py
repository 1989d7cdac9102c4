"""Image digests: which manifest an image reference points to when it is submitted.

A resolver takes an image reference and answers ``sha256:...`` or None when it cannot tell.
The setting ``digest_resolver`` picks one: ``registry`` asks the image's registry over the
Docker Registry HTTP API v2 (:mod:`vantage6_common.registry`, which the node uses too),
``none`` never resolves, and ``module:function`` names any other callable.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable

from vantage6_common.registry import RegistryError, manifest_digest

DigestResolver = Callable[[str], str | None]

DOCKER_HUB = "registry-1.docker.io"


def split_reference(image: str) -> tuple[str, str, str, str | None]:
    """``image`` as (registry, repository, tag, digest); Docker Hub names get ``library/``."""
    name, _, digest = image.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag = "latest"
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    first, _, rest = name.partition("/")
    if rest and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, rest
    else:
        registry, repository = DOCKER_HUB, name if rest else f"library/{name}"
    return registry, repository, tag, digest or None


def without_digest(image: str) -> str:
    """The reference as submitted, minus an ``@sha256:...`` pin."""
    return image.partition("@")[0]


def registry_digest(image: str, timeout: float = 10.0) -> str | None:
    """Ask the image's registry which digest the tag points to (None when it cannot)."""
    try:
        return manifest_digest(image, timeout)
    except (RegistryError, ValueError):
        return None


def no_digest(_image: str) -> str | None:
    return None


def load_resolver(name: str) -> DigestResolver:
    """The resolver a ``digest_resolver`` setting names; ValueError when it names nothing."""
    if name == "registry":
        return registry_digest
    if name == "none":
        return no_digest
    module_name, _, attribute = name.partition(":")
    if not attribute:
        raise ValueError(f"digest_resolver '{name}': use registry, none or module:function")
    try:
        resolver = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"digest_resolver '{name}' cannot be loaded: {exc}") from exc
    if not callable(resolver):
        raise ValueError(f"digest_resolver '{name}' is not callable")
    return resolver
