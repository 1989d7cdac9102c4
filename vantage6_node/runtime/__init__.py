"""Container runtimes: the interface and how to load a backend by name.

Backends register a :class:`ContainerRuntime` subclass in the ``vantage6.runtimes`` entry point
group, under the name users give as ``runtime:``. This project's own backends are the packages
``plugins/vantage6_runtime_<name>/``; when an installed entry point points at a module that no
longer imports (metadata older than the source checkout), the class of the same name is looked up
in ``vantage6_runtime_<name>`` instead.
"""

from __future__ import annotations

import importlib
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
    DelegatingRuntime,
    ExitNotifier,
    ImageBuilder,
    ImageInfo,
    ImageNotFound,
    ImagePullError,
    ImageTransfer,
    LogReader,
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
    "DelegatingRuntime",
    "ExitNotifier",
    "ImageBuilder",
    "ImageInfo",
    "ImageNotFound",
    "ImagePullError",
    "ImageTransfer",
    "LogReader",
    "Mount",
    "NetworkError",
    "RunSpec",
    "RuntimeUnavailable",
    "UnknownRuntime",
    "WaitTimeout",
    "available_runtimes",
    "load_runtime",
    "network_of_container",
    "open_for_node",
    "preferred_runtime",
    "runtime_class",
]

ENTRY_POINT_GROUP = "vantage6.runtimes"
#: module of a bundled backend, tried when its entry point's module does not import
FALLBACK_MODULE = "vantage6_runtime_{name}"


class UnknownRuntime(LookupError):
    """No runtime backend registered under the requested name."""


def _entry_points() -> dict[str, EntryPoint]:
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def available_runtimes() -> list[str]:
    """Names of the registered runtime backends, sorted."""
    return sorted(_entry_points())


def _load_class(ep: EntryPoint) -> object:
    try:
        return ep.load()
    except ImportError as first:
        attr = ep.value.partition(":")[2]
        try:
            module = importlib.import_module(FALLBACK_MODULE.format(name=ep.name))
        except ImportError:
            raise UnknownRuntime(
                f"container runtime {ep.name!r} is registered as {ep.value} but cannot be "
                f"imported ({first}); reinstall the package that provides it"
            ) from first
        return getattr(module, attr, None)


def runtime_class(name: str) -> type[ContainerRuntime]:
    """The backend class registered as ``name``; raises :class:`UnknownRuntime`."""
    eps = _entry_points()
    ep = eps.get(name)
    if ep is None:
        known = ", ".join(sorted(eps)) or "(none registered: is the project installed?)"
        raise UnknownRuntime(
            f"unknown container runtime {name!r}; available: {known} "
            f"(entry point group {ENTRY_POINT_GROUP!r})"
        )
    cls = _load_class(ep)
    if not (isinstance(cls, type) and issubclass(cls, ContainerRuntime)):
        raise UnknownRuntime(
            f"entry point {name!r} ({ep.value}) does not name a ContainerRuntime subclass"
        )
    return cls


def preferred_runtime() -> str | None:
    """The registered backend to use when none is named (highest ``preference``), or None."""
    ranked = []
    for name in available_runtimes():
        try:
            ranked.append((-runtime_class(name).preference, name))
        except UnknownRuntime:
            continue
    return min(ranked)[1] if ranked else None


def load_runtime(name: str, **options: Any) -> ContainerRuntime:
    """Instantiate the backend registered as ``name`` with ``options`` as keyword arguments."""
    return runtime_class(name)(**options)


def open_for_node(name: str, private_dir: Path, log_dir: Path, **options: Any) -> ContainerRuntime:
    """The backend ``name`` as a node opens it (see :meth:`ContainerRuntime.for_node`)."""
    return runtime_class(name).for_node(private_dir, log_dir, **options)
