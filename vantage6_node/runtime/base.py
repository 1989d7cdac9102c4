"""Backend-neutral interface to a container engine.

The node talks to containers only through :class:`ContainerRuntime`. Backends live in
``plugins/vantage6_runtime_*`` and are found through the ``vantage6.runtimes`` entry point group
(see :func:`vantage6_node.runtime.load_runtime`). This module is what a backend may import.

Beyond the required operations a backend may offer capabilities that the node asks for and uses
when present (each asking method returns None when the backend has no such thing):
:meth:`ContainerRuntime.exit_notifier`, :meth:`ContainerRuntime.log_reader`,
:meth:`ContainerRuntime.image_transfer` and :meth:`ContainerRuntime.image_builder`. A backend that
needs something running for the node (a private engine service, say) starts it in
:meth:`ContainerRuntime.for_node` and stops it in :meth:`ContainerRuntime.close`.

Security defaults are least-privilege: every container starts with all Linux capabilities
dropped, ``no-new-privileges`` set and no network at all. A caller has to ask for anything more
(``RunSpec.cap_add``, ``RunSpec.network``).
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

NETWORK_NONE = "none"
NETWORK_HOST = "host"


def network_of_container(container_id: str) -> str:
    """Network mode that shares the network namespace of another container."""
    return f"container:{container_id}"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class ContainerRuntimeError(Exception):
    """Base class of every error raised by a runtime backend."""


class RuntimeUnavailable(ContainerRuntimeError):
    """The container engine cannot be reached (not installed, socket missing, ...)."""


class ImageNotFound(ContainerRuntimeError):
    """The image is not present locally."""


class ImagePullError(ContainerRuntimeError):
    """Pulling the image failed (registry unreachable, unknown image, digest mismatch)."""


class ContainerNotFound(ContainerRuntimeError):
    """No container with that id or name."""


class ContainerStartError(ContainerRuntimeError):
    """The engine refused to create or start the container."""


class WaitTimeout(ContainerRuntimeError, TimeoutError):
    """The container was still running when ``wait`` gave up."""


class NetworkError(ContainerRuntimeError):
    """Creating or removing a network failed."""


# --------------------------------------------------------------------------------------------
# Specs and results
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Mount:
    """A bind mount of a host path into the container. Read-only unless asked otherwise."""

    source: str
    target: str
    read_only: bool = True


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start one container.

    ``network`` is ``"none"`` (default: loopback only), ``"host"``, ``"container:<id>"`` (join
    another container's network namespace, see :func:`network_of_container`) or the name of a
    network made with :meth:`ContainerRuntime.create_network`.

    ``cpus`` is a fraction of CPUs (``0.5`` = half a core), ``memory`` is in bytes, ``pids_limit``
    caps the number of processes. ``tmpfs`` maps a container path to mount options
    (``"size=64m"``; empty string for defaults).
    """

    image: str
    command: tuple[str, ...] | list[str] | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] | list[Mount] = ()
    labels: Mapping[str, str] = field(default_factory=dict)
    name: str | None = None
    network: str = NETWORK_NONE
    user: str | None = None
    working_dir: str | None = None
    entrypoint: tuple[str, ...] | list[str] | None = None
    read_only_rootfs: bool = False
    tmpfs: Mapping[str, str] = field(default_factory=dict)
    cpus: float | None = None
    memory: int | None = None
    pids_limit: int | None = None
    cap_add: tuple[str, ...] | list[str] = ()
    no_new_privileges: bool = True


@dataclass(frozen=True)
class ImageInfo:
    """A local image. ``digests`` are repository digests (``name@sha256:...``) when known."""

    id: str
    tags: tuple[str, ...] = ()
    digests: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ContainerInfo:
    """State of a container as reported by the engine.

    ``state`` is normalised to one of ``created``, ``running``, ``paused``, ``exited``,
    ``dead``, ``unknown``. ``exit_code`` is set once the container has exited.
    """

    id: str
    name: str
    image: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    exit_code: int | None = None


@dataclass(frozen=True)
class CompletedContainer:
    """Result of :meth:`ContainerRuntime.run_to_completion`."""

    id: str
    exit_code: int
    logs: str


_STATES = {"created", "running", "paused", "exited", "dead"}


def normalise_state(raw: str | None) -> str:
    """Map engine-specific state words onto the small set used by :class:`ContainerInfo`."""
    value = (raw or "").strip().lower()
    if value in _STATES:
        return value
    if value in {"stopped", "stopping", "removing"}:
        return "exited"
    if value in {"configured", "initialized"}:
        return "created"
    if value in {"restarting"}:
        return "running"
    return "unknown"


def label_filters(labels: Mapping[str, str | None] | None) -> list[str]:
    """``{"a": "1", "b": None}`` -> ``["a=1", "b"]`` (``None`` means: label present)."""
    out: list[str] = []
    for key, value in (labels or {}).items():
        out.append(key if value is None else f"{key}={value}")
    return out


# --------------------------------------------------------------------------------------------
# Optional capabilities
# --------------------------------------------------------------------------------------------


class ExitNotifier(Protocol):
    """Tells the node about container exits sooner than asking the engine would.

    A shortcut, not the source of truth: the node still asks the engine, and the engine wins.
    Made (and closed) on the node's event loop.
    """

    def exited(self, container_id: str) -> asyncio.Future[int | None]:
        """A future resolved when the container exits, with its exit code when known."""
        ...

    def forget(self, container_id: str, future: asyncio.Future[int | None]) -> None:
        """Stop watching for ``future`` (the exit was noticed another way)."""
        ...

    def close(self) -> None:
        """Stop watching; pending futures resolve with None."""
        ...


class LogReader(Protocol):
    """Reads a container's output without a request to the engine (e.g. from its log file)."""

    def has(self, container_id: str) -> bool:
        """Whether this reader can read the container's output."""
        ...

    def read(self, container_id: str) -> list[str] | None:
        """The output lines so far (only the end of a long log), or None when unreadable."""
        ...

    def follow(self, container_id: str, stop: asyncio.Event) -> AsyncIterator[str]:
        """Lines as they are written, until ``stop`` is set (then the rest, once)."""
        ...


class ImageTransfer(Protocol):
    """Writes local images to a tar archive (the format engines exchange) and loads them."""

    def save(self, image: str, archive: Path) -> None:
        """Write ``image`` to the file ``archive``."""
        ...

    def load(self, archive: Path) -> None:
        """Add the images in the file ``archive`` to the local images."""
        ...


class ImageBuilder(Protocol):
    """Builds an image from a build context, without pulling and without network."""

    def build(self, context: Path, containerfile: Path, tag: str) -> None:
        """Build ``containerfile`` in ``context`` as ``tag``; raises ContainerRuntimeError."""
        ...


# --------------------------------------------------------------------------------------------
# The interface
# --------------------------------------------------------------------------------------------


class ContainerRuntime(abc.ABC):
    """A container engine. Container arguments accept an id or a name."""

    #: name under which the backend is registered (entry point name)
    name: str = ""
    #: the backend chosen when none is named: the registered one with the highest preference
    preference: int = 0
    #: how to get the engine when it is missing (shown to the user)
    install_hint: str = ""
    #: True when a blocking :meth:`wait` is the cheapest way to notice an exit (one engine
    #: process per container); False: the node asks :meth:`inspect` with a back-off instead
    blocking_wait: bool = False

    # -- opening -------------------------------------------------------------------------------

    @classmethod
    def for_node(cls, private_dir: Path, log_dir: Path, **options: Any) -> ContainerRuntime:
        """The backend as a long-running node uses it, with the node's ``runtime_options``.

        ``private_dir`` is a folder only this node uses (for sockets), ``log_dir`` where the
        backend may write logs of helper processes. Called on the node's event loop thread
        (which lives as long as the node). Default: the plain backend.
        """
        return cls(**options)

    def ready(self, timeout: float = 30.0) -> None:
        """Wait until the engine answers; raises :class:`RuntimeUnavailable` if it does not.

        Backends that start their engine themselves wait up to ``timeout`` seconds.
        """
        if not self.is_available():
            raise RuntimeUnavailable("no answer")

    # -- engine --------------------------------------------------------------------------------

    @abc.abstractmethod
    def is_available(self) -> bool:
        """True when the engine answers. Never raises."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release connections held by the backend."""

    def __enter__(self) -> ContainerRuntime:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- images --------------------------------------------------------------------------------

    @abc.abstractmethod
    def image_info(self, image: str) -> ImageInfo | None:
        """Local image by reference (``name:tag``, ``name@sha256:...`` or id), else None."""

    def image_exists(self, image: str) -> bool:
        """True when the image is present locally (no registry is asked)."""
        return self.image_info(image) is not None

    @abc.abstractmethod
    def pull(self, image: str) -> ImageInfo:
        """Pull ``image`` (``name:tag`` or ``name@sha256:<digest>``) from its registry.

        Raises :class:`ImagePullError` when the registry is unreachable or the image unknown.
        """

    @abc.abstractmethod
    def remove_image(self, image: str, force: bool = False) -> None:
        """Delete a local image. Missing images are ignored."""

    # -- containers ----------------------------------------------------------------------------

    @abc.abstractmethod
    def run(self, spec: RunSpec) -> str:
        """Create and start a container in the background; return its id.

        Never pulls: a missing image raises :class:`ImageNotFound`.
        """

    @abc.abstractmethod
    def wait(self, container: str, timeout: float | None = None) -> int:
        """Block until the container exits and return its exit code.

        Raises :class:`WaitTimeout` after ``timeout`` seconds (the container keeps running).
        """

    @abc.abstractmethod
    def logs(self, container: str, stdout: bool = True, stderr: bool = True) -> str:
        """Everything the container has written so far."""

    @abc.abstractmethod
    def stream_logs(self, container: str, follow: bool = True) -> Iterator[str]:
        """Yield output lines (stdout and stderr, newline stripped) as they appear.

        With ``follow`` the iterator ends when the container exits; without, it ends after the
        lines written so far.
        """

    @abc.abstractmethod
    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        """Send a signal to a running container. A container that is not running is ignored."""

    @abc.abstractmethod
    def remove(self, container: str, force: bool = True) -> None:
        """Remove a container (killing it first when ``force``). Missing ones are ignored."""

    @abc.abstractmethod
    def inspect(self, container: str) -> ContainerInfo:
        """Current state of one container; raises :class:`ContainerNotFound`."""

    @abc.abstractmethod
    def list_containers(
        self, labels: Mapping[str, str | None] | None = None, all: bool = True
    ) -> list[ContainerInfo]:
        """Containers carrying all the given labels (``None`` value = label present).

        ``all=False`` lists only running containers.
        """

    # -- networks ------------------------------------------------------------------------------

    @abc.abstractmethod
    def create_network(
        self, name: str, internal: bool = True, labels: Mapping[str, str] | None = None
    ) -> str:
        """Create a bridge network (``internal``: no route out); return its id."""

    @abc.abstractmethod
    def remove_network(self, name: str) -> None:
        """Remove a network. Missing networks are ignored."""

    @abc.abstractmethod
    def network_exists(self, name: str) -> bool:
        """True when a network with that name exists."""

    # -- optional capabilities -----------------------------------------------------------------

    def exit_notifier(self) -> ExitNotifier | None:
        """A started :class:`ExitNotifier` (call on the event loop), or None."""
        return None

    def log_reader(self) -> LogReader | None:
        """A :class:`LogReader` (may block: call from a thread), or None."""
        return None

    def image_transfer(self) -> ImageTransfer | None:
        """An :class:`ImageTransfer`, or None."""
        return None

    def image_builder(self) -> ImageBuilder | None:
        """An :class:`ImageBuilder`, or None."""
        return None

    # -- composed helpers ----------------------------------------------------------------------

    def run_to_completion(
        self, spec: RunSpec, timeout: float | None = None, remove: bool = True
    ) -> CompletedContainer:
        """Run, wait, collect logs and (by default) remove. Kills the container on timeout."""
        container_id = self.run(spec)
        try:
            try:
                code = self.wait(container_id, timeout=timeout)
            except WaitTimeout:
                self.kill(container_id)
                raise
            return CompletedContainer(container_id, code, self.logs(container_id))
        finally:
            if remove:
                self.remove(container_id, force=True)

    def wait_until_running(self, container: str, timeout: float = 10.0) -> ContainerInfo:
        """Poll until the container is running (or has already exited)."""
        deadline = time.monotonic() + timeout
        while True:
            info = self.inspect(container)
            if info.state in {"running", "exited", "dead"}:
                return info
            if time.monotonic() >= deadline:
                raise WaitTimeout(f"container {container} not running after {timeout}s")
            time.sleep(0.05)


class DelegatingRuntime(ContainerRuntime):
    """Forwards every operation to another runtime; a base for backends that add to one.

    Capabilities and :attr:`blocking_wait` are the inner runtime's unless overridden.
    """

    def __init__(self, inner: ContainerRuntime) -> None:
        self.inner = inner
        self.blocking_wait = inner.blocking_wait

    def is_available(self) -> bool:
        return self.inner.is_available()

    def ready(self, timeout: float = 30.0) -> None:
        self.inner.ready(timeout)

    def close(self) -> None:
        self.inner.close()

    def image_info(self, image: str) -> ImageInfo | None:
        return self.inner.image_info(image)

    def pull(self, image: str) -> ImageInfo:
        return self.inner.pull(image)

    def remove_image(self, image: str, force: bool = False) -> None:
        self.inner.remove_image(image, force)

    def run(self, spec: RunSpec) -> str:
        return self.inner.run(spec)

    def wait(self, container: str, timeout: float | None = None) -> int:
        return self.inner.wait(container, timeout)

    def logs(self, container: str, stdout: bool = True, stderr: bool = True) -> str:
        return self.inner.logs(container, stdout, stderr)

    def stream_logs(self, container: str, follow: bool = True) -> Iterator[str]:
        return self.inner.stream_logs(container, follow)

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        self.inner.kill(container, signal)

    def remove(self, container: str, force: bool = True) -> None:
        self.inner.remove(container, force)

    def inspect(self, container: str) -> ContainerInfo:
        return self.inner.inspect(container)

    def list_containers(
        self, labels: Mapping[str, str | None] | None = None, all: bool = True
    ) -> list[ContainerInfo]:
        return self.inner.list_containers(labels, all)

    def create_network(
        self, name: str, internal: bool = True, labels: Mapping[str, str] | None = None
    ) -> str:
        return self.inner.create_network(name, internal, labels)

    def remove_network(self, name: str) -> None:
        self.inner.remove_network(name)

    def network_exists(self, name: str) -> bool:
        return self.inner.network_exists(name)

    def exit_notifier(self) -> ExitNotifier | None:
        return self.inner.exit_notifier()

    def log_reader(self) -> LogReader | None:
        return self.inner.log_reader()

    def image_transfer(self) -> ImageTransfer | None:
        return self.inner.image_transfer()

    def image_builder(self) -> ImageBuilder | None:
        return self.inner.image_builder()
