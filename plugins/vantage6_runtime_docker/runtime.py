"""``ContainerRuntime`` over the Docker Engine API with the docker SDK.

Works against a Docker daemon and against ``podman system service`` (the podman backend uses
it that way).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import docker
import docker.errors
import requests.exceptions
import urllib3.exceptions
from docker.types import Mount as DockerMount

from vantage6_node.runtime.base import (
    ContainerInfo,
    ContainerNotFound,
    ContainerRuntime,
    ContainerRuntimeError,
    ContainerStartError,
    ImageInfo,
    ImageNotFound,
    ImagePullError,
    NetworkError,
    RunSpec,
    RuntimeUnavailable,
    WaitTimeout,
    label_filters,
    normalise_state,
)

# the SDK logs every request at DEBUG; quiet unless someone asked for it
if logging.getLogger("docker").level == logging.NOTSET:
    logging.getLogger("docker").setLevel(logging.WARNING)

_EXITED_RE = re.compile(r"exited \((-?\d+)\)", re.IGNORECASE)
# podman's Docker API answers 500 (not 409) for a container that is not running
_NOT_RUNNING = ("not running", "can only kill running containers", "state improper")
_CONNECTION_ERRORS = (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError)


def _stream_error(progress: Iterator[Mapping[str, Any]]) -> str | None:
    """Read a decoded progress stream to its end; the first error it reports, if any."""
    error: str | None = None
    for entry in progress:
        if error is not None or not isinstance(entry, Mapping):
            continue
        detail = entry.get("errorDetail")
        message = entry.get("error") or (
            detail.get("message") if isinstance(detail, Mapping) else None
        )
        if message or detail:
            error = str(message or detail)
    return error


class DockerRuntime(ContainerRuntime):
    """Docker Engine API through the docker SDK.

    Options: ``base_url`` (``unix:///path.sock``, ``tcp://host:port``; default from
    ``DOCKER_HOST`` or the standard socket), ``timeout`` (seconds per API call), ``wait_mode``
    (``"poll"``: inspect with a short back-off, quickest against podman; ``"api"``: the
    blocking ``/wait`` call), ``poll_max`` (longest pause between polls, seconds),
    ``pull_timeout`` (seconds a pull may go without progress).
    """

    name = "docker"
    install_hint = "install Docker and start its daemon, or set DOCKER_HOST to an engine API"

    def __init__(
        self,
        base_url: str | None = None,
        timeout: float = 120.0,
        wait_mode: str = "poll",
        poll_max: float = 0.25,
        pull_timeout: float = 900.0,
    ) -> None:
        if wait_mode not in {"poll", "api"}:
            raise ValueError(f"wait_mode must be 'poll' or 'api', not {wait_mode!r}")
        self._base_url = base_url
        self._timeout = timeout
        self._wait_mode = wait_mode
        self._poll_max = poll_max
        self._pull_timeout = pull_timeout
        self._client: docker.DockerClient | None = None

    # -- plumbing ------------------------------------------------------------------------------

    @property
    def client(self) -> docker.DockerClient:
        if self._client is None:
            try:
                if self._base_url:
                    self._client = docker.DockerClient(
                        base_url=self._base_url, timeout=int(self._timeout)
                    )
                else:
                    self._client = docker.from_env(timeout=int(self._timeout))
            except docker.errors.DockerException as exc:
                raise RuntimeUnavailable(f"cannot reach the Docker API: {exc}") from exc
        return self._client

    @property
    def api(self) -> docker.APIClient:
        return self.client.api

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    # -- engine --------------------------------------------------------------------------------

    def is_available(self) -> bool:
        try:
            return bool(self.api.ping())
        except Exception:  # noqa: BLE001 - any failure means "not available"
            return False

    # -- images --------------------------------------------------------------------------------

    @staticmethod
    def _image_info(attrs: Mapping[str, Any]) -> ImageInfo:
        labels = (attrs.get("Config") or {}).get("Labels") or attrs.get("Labels") or {}
        return ImageInfo(
            id=attrs.get("Id", ""),
            tags=tuple(attrs.get("RepoTags") or ()),
            digests=tuple(attrs.get("RepoDigests") or ()),
            labels=dict(labels),
        )

    def image_info(self, image: str) -> ImageInfo | None:
        try:
            attrs = self.api.inspect_image(image)
        except docker.errors.NotFound:
            return None
        except _CONNECTION_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(f"inspecting image {image}: {exc}") from exc
        return self._image_info(attrs)

    def pull(self, image: str) -> ImageInfo:
        repository, tag = image, None
        if "@" not in image:
            # split a trailing :tag, not a registry port
            head, _, last = image.rpartition(":")
            if head and "/" not in last:
                repository, tag = head, last
            else:
                tag = "latest"
        try:
            error = _stream_error(self._pull_progress(repository, tag))
        except (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError) as exc:
            raise ImagePullError(
                f"pulling {image} timed out: no progress for {self._pull_timeout:g}s"
            ) from exc
        except _CONNECTION_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        except docker.errors.APIError as exc:
            raise ImagePullError(f"pulling {image} failed: {exc}") from exc
        if error is not None:
            # podman's API (and Docker's for some failures) answers 200 and reports here
            raise ImagePullError(f"pulling {image} failed: {error}")
        info = self.image_info(image)
        if info is None:  # last guard: a stream without an error but no image either
            raise ImagePullError(f"pulled {image} but cannot find it locally")
        return info

    def _pull_progress(self, repository: str, tag: str | None) -> Iterator[Mapping[str, Any]]:
        """``POST /images/create`` as ``APIClient.pull`` sends it, with a read timeout.

        The SDK's own ``pull`` waits without limit, so a registry that stops answering would
        hold a run forever; here the engine must report progress every ``pull_timeout``.
        """
        registry, _ = docker.auth.resolve_repository_name(repository)
        headers = {}
        header = docker.auth.get_config_header(self.api, registry)
        if header:
            headers["X-Registry-Auth"] = header
        response = self.api._post(
            self.api._url("/images/create"),
            params={"fromImage": repository, "tag": tag},
            headers=headers,
            stream=True,
            timeout=self._pull_timeout,
        )
        self.api._raise_for_status(response)
        return self.api._stream_helper(response, decode=True)

    def remove_image(self, image: str, force: bool = False) -> None:
        try:
            self.api.remove_image(image, force=force)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(f"removing image {image}: {exc}") from exc

    # -- containers ----------------------------------------------------------------------------

    def _create_kwargs(self, spec: RunSpec) -> dict[str, Any]:
        host_config: dict[str, Any] = {
            "network_mode": spec.network,
            "cap_drop": ["ALL"],
            "cap_add": list(spec.cap_add) or None,
            "security_opt": ["no-new-privileges"] if spec.no_new_privileges else None,
            "read_only": spec.read_only_rootfs,
            "tmpfs": dict(spec.tmpfs) or None,
            "mounts": [
                DockerMount(target=m.target, source=m.source, type="bind", read_only=m.read_only)
                for m in spec.mounts
            ]
            or None,
        }
        if spec.cpus is not None:
            host_config["nano_cpus"] = int(spec.cpus * 1_000_000_000)
        if spec.memory is not None:
            host_config["mem_limit"] = int(spec.memory)
        if spec.pids_limit is not None:
            host_config["pids_limit"] = int(spec.pids_limit)
        return {
            "image": spec.image,
            "command": list(spec.command) if spec.command is not None else None,
            "environment": dict(spec.env) or None,
            "labels": dict(spec.labels) or None,
            "name": spec.name,
            "user": spec.user,
            "working_dir": spec.working_dir,
            "entrypoint": list(spec.entrypoint) if spec.entrypoint is not None else None,
            "host_config": self.api.create_host_config(**host_config),
        }

    def run(self, spec: RunSpec) -> str:
        try:
            created = self.api.create_container(**self._create_kwargs(spec))
        except docker.errors.ImageNotFound as exc:
            raise ImageNotFound(f"image {spec.image} is not present locally: {exc}") from exc
        except _CONNECTION_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        except docker.errors.APIError as exc:
            if exc.status_code == 404 or "image not known" in str(exc).lower():
                raise ImageNotFound(f"image {spec.image} is not present locally: {exc}") from exc
            raise ContainerStartError(f"creating a container of {spec.image}: {exc}") from exc
        container_id = created["Id"]
        try:
            self.api.start(container_id)
        except docker.errors.APIError as exc:
            self.remove(container_id, force=True)
            raise ContainerStartError(f"starting {spec.image} failed: {exc}") from exc
        return container_id

    def wait(self, container: str, timeout: float | None = None) -> int:
        if self._wait_mode == "api":
            return self._wait_api(container, timeout)
        return self._wait_poll(container, timeout)

    def _wait_api(self, container: str, timeout: float | None) -> int:
        try:
            result = self.api.wait(container, timeout=timeout)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(str(exc)) from exc
        except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError) as exc:
            if timeout is not None:
                raise WaitTimeout(f"container {container} still running after {timeout}s") from exc
            raise RuntimeUnavailable(str(exc)) from exc
        return int(result.get("StatusCode", -1))

    def _wait_poll(self, container: str, timeout: float | None) -> int:
        # podman's Docker API answers /wait 0.2-0.5 s after the exit; inspecting is quicker
        deadline = None if timeout is None else time.monotonic() + timeout
        interval = 0.02
        while True:
            info = self.inspect(container)
            if info.state in {"exited", "dead"}:
                return info.exit_code if info.exit_code is not None else -1
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(f"container {container} still running after {timeout}s")
            pause = interval if deadline is None else min(interval, deadline - time.monotonic())
            time.sleep(max(pause, 0))
            interval = min(interval * 1.5, self._poll_max)

    def logs(self, container: str, stdout: bool = True, stderr: bool = True) -> str:
        if not (stdout or stderr):
            return ""
        try:
            data = self.api.logs(container, stdout=stdout, stderr=stderr)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(str(exc)) from exc
        return data.decode("utf-8", "replace")

    def stream_logs(self, container: str, follow: bool = True) -> Iterator[str]:
        try:
            chunks = self.api.logs(container, stream=True, follow=follow)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(str(exc)) from exc
        return self._lines(chunks)

    @staticmethod
    def _lines(chunks: Any) -> Iterator[str]:
        pending = b""
        try:
            for chunk in chunks:
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    yield line.decode("utf-8", "replace").rstrip("\r")
            if pending:
                yield pending.decode("utf-8", "replace").rstrip("\r")
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()

    def kill(self, container: str, signal: str = "SIGKILL") -> None:
        try:
            self.api.kill(container, signal=signal)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(str(exc)) from exc
        except docker.errors.APIError as exc:
            text = str(exc).lower()
            if exc.status_code == 409 or any(m in text for m in _NOT_RUNNING):
                return
            raise ContainerRuntimeError(f"killing {container}: {exc}") from exc

    def remove(self, container: str, force: bool = True) -> None:
        try:
            self.api.remove_container(container, force=force)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise ContainerRuntimeError(f"removing {container}: {exc}") from exc

    def inspect(self, container: str) -> ContainerInfo:
        try:
            attrs = self.api.inspect_container(container)
        except docker.errors.NotFound as exc:
            raise ContainerNotFound(str(exc)) from exc
        state = attrs.get("State") or {}
        status = normalise_state(state.get("Status"))
        config = attrs.get("Config") or {}
        return ContainerInfo(
            id=attrs.get("Id", ""),
            name=(attrs.get("Name") or "").lstrip("/"),
            image=config.get("Image") or attrs.get("Image", ""),
            state=status,
            labels=dict(config.get("Labels") or {}),
            exit_code=int(state.get("ExitCode", 0)) if status in {"exited", "dead"} else None,
        )

    def list_containers(
        self, labels: Mapping[str, str | None] | None = None, all: bool = True
    ) -> list[ContainerInfo]:
        filters = {"label": label_filters(labels)} if labels else None
        try:
            items = self.api.containers(all=all, filters=filters)
        except _CONNECTION_ERRORS as exc:
            raise RuntimeUnavailable(str(exc)) from exc
        result = []
        for item in items:
            status = normalise_state(item.get("State"))
            exit_code = None
            if status in {"exited", "dead"}:
                match = _EXITED_RE.search(item.get("Status") or "")
                exit_code = int(match.group(1)) if match else None
            names = item.get("Names") or [""]
            result.append(
                ContainerInfo(
                    id=item.get("Id", ""),
                    name=names[0].lstrip("/"),
                    image=item.get("Image", ""),
                    state=status,
                    labels=dict(item.get("Labels") or {}),
                    exit_code=exit_code,
                )
            )
        return result

    # -- networks ------------------------------------------------------------------------------

    def create_network(
        self, name: str, internal: bool = True, labels: Mapping[str, str] | None = None
    ) -> str:
        try:
            created = self.api.create_network(
                name, driver="bridge", internal=internal, labels=dict(labels or {}) or None
            )
        except docker.errors.APIError as exc:
            raise NetworkError(f"creating network {name}: {exc}") from exc
        return str(created.get("Id") or name)

    def remove_network(self, name: str) -> None:
        try:
            self.api.remove_network(name)
        except docker.errors.NotFound:
            return
        except docker.errors.APIError as exc:
            raise NetworkError(f"removing network {name}: {exc}") from exc

    def network_exists(self, name: str) -> bool:
        try:
            self.api.inspect_network(name)
        except docker.errors.NotFound:
            return False
        return True

    # -- optional capabilities -----------------------------------------------------------------

    def image_transfer(self) -> DockerRuntime:
        return self

    def image_builder(self) -> DockerRuntime:
        return self

    def save(self, image: str, archive: Path) -> None:
        try:
            with open(archive, "wb") as out:
                for chunk in self.api.get_image(image):
                    out.write(chunk)
        except docker.errors.NotFound as exc:
            raise ImageNotFound(f"no image {image}") from exc
        except (docker.errors.APIError, OSError) as exc:
            raise ContainerRuntimeError(f"saving image {image}: {exc}") from exc

    def load(self, archive: Path) -> None:
        try:
            with open(archive, "rb") as data:
                error = _stream_error(self.api.load_image(data) or iter(()))
        except (docker.errors.APIError, OSError) as exc:
            raise ContainerRuntimeError(f"loading images from {archive}: {exc}") from exc
        if error is not None:
            raise ContainerRuntimeError(f"loading images from {archive}: {error}")

    def build(self, context: Path, containerfile: Path, tag: str) -> None:
        try:
            progress = self.api.build(
                path=str(context),
                dockerfile=str(containerfile),
                tag=tag,
                pull=False,
                network_mode="none",
                rm=True,
                decode=True,
            )
            error = _stream_error(progress)
        except (docker.errors.APIError, docker.errors.BuildError) as exc:
            raise ContainerRuntimeError(f"building {tag}: {exc}") from exc
        if error is not None:
            raise ContainerRuntimeError(f"building {tag}: {error}")
