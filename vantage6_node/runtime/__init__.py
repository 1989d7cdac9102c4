"""Container runtimes: the interface and how to load a backend by name."""

from __future__ import annotations

import os
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from vantage6_node.runtime.base import (
    NETWORK_HOST,
    NETWORK_NONE,
    CompletedContainer,
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerStartError,
    ImageInfo,
    ImageNotFound,
    ImagePullError,
    Mount,
    NetworkError,
    RunSpec,
    RuntimeUnavailable,
    WaitTimeout,
    network_of_container,
)

__all__ = [
    "NETWORK_HOST",
    "NETWORK_NONE",
    "CompletedContainer",
    "ContainerInfo",
    "ContainerNotFound",
    "ContainerRuntime",
    "ContainerRuntimeError",
    "ContainerStartError",
    "ImageInfo",
    "ImageNotFound",
    "ImagePullError",
    "Mount",
    "NetworkError",
    "RunSpec",
    "RuntimeUnavailable",
    "UnknownRuntime",
    "WaitTimeout",
    "available_runtimes",
    "default_containers_conf",
    "ensure_containers_conf",
    "load_runtime",
    "network_of_container",
    "podman_environ",
]

ENTRY_POINT_GROUP = "vantage6.runtimes"

# <repo>/containers/containers.conf, next to the package in a source checkout
_REPO_CONTAINERS_CONF = Path(__file__).resolve().parents[2] / "containers" / "containers.conf"


class UnknownRuntime(LookupError):
    """No runtime backend registered under the requested name."""


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_runtimes() -> list[str]:
    """Names of the registered runtime backends, sorted."""
    return sorted(_entry_points())


def load_runtime(name: str, **options: Any) -> ContainerRuntime:
    """Instantiate the backend registered as ``name`` with ``options`` as keyword arguments."""
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "(none registered: is the project installed?)"
        raise UnknownRuntime(
            f"unknown container runtime {name!r}; available: {known} "
            f"(entry point group {ENTRY_POINT_GROUP!r})"
        )
    cls = ep.load()
    if not (isinstance(cls, type) and issubclass(cls, ContainerRuntime)):
        raise UnknownRuntime(
            f"entry point {name!r} ({ep.value}) does not name a ContainerRuntime subclass"
        )
    return cls(**options)


def default_containers_conf() -> Path | None:
    """The project's containers.conf (runc, ulimits that work here), if it can be found."""
    override = os.environ.get("V6_CONTAINERS_CONF")
    if override:
        return Path(override)
    if _REPO_CONTAINERS_CONF.is_file():
        return _REPO_CONTAINERS_CONF
    return None


def podman_environ(base: dict[str, str] | None = None) -> dict[str, str]:
    """A copy of ``base`` (default: ``os.environ``) with ``CONTAINERS_CONF`` set if unset."""
    env = dict(os.environ if base is None else base)
    if not env.get("CONTAINERS_CONF"):
        conf = default_containers_conf()
        if conf is not None:
            env["CONTAINERS_CONF"] = str(conf)
    return env


def ensure_containers_conf() -> str | None:
    """Set ``CONTAINERS_CONF`` in this process's environment when unset; return its value."""
    if not os.environ.get("CONTAINERS_CONF"):
        conf = default_containers_conf()
        if conf is not None:
            os.environ["CONTAINERS_CONF"] = str(conf)
    return os.environ.get("CONTAINERS_CONF")
