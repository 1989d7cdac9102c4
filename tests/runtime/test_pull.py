"""Pulling by tag and by digest from a registry on 127.0.0.1, on every backend."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.runtime.conftest import PODMAN, RUNTIME_NAMES
from tests.runtime.registry import TinyRegistry
from vantage6_node.runtime import ContainerRuntime, ImagePullError, load_runtime
from vantage6_runtime_podman.service import PodmanService

pytestmark = pytest.mark.containers


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TinyRegistry, Path]]:
    if PODMAN is None:
        pytest.skip("podman is not installed (run containers/setup.sh)")
    with TinyRegistry() as reg:
        yield reg, reg.registries_conf(tmp_path_factory.mktemp("registry"))


@pytest.fixture(scope="module", params=RUNTIME_NAMES)
def pull_runtime(
    request: pytest.FixtureRequest, registry: tuple[TinyRegistry, Path]
) -> Iterator[ContainerRuntime]:
    env = {"CONTAINERS_REGISTRIES_CONF": str(registry[1])}
    if request.param == "docker":
        with PodmanService(env=env) as service:
            rt = load_runtime("docker", base_url=service.url)
            yield rt
            rt.close()
    else:
        yield load_runtime("podman", env=env)


def _publish(reg: TinyRegistry) -> tuple[str, str, str]:
    name = f"v6test/tiny-{uuid.uuid4().hex[:8]}"
    marker = uuid.uuid4().hex
    digest = reg.add_image(name, "1.0", {"hello.txt": marker.encode()}, {"v6next.marker": marker})
    return f"{reg.host}/{name}", digest, marker


def test_pull_by_tag_reports_digest(pull_runtime: ContainerRuntime, registry) -> None:
    reg, _ = registry
    repo, digest, marker = _publish(reg)
    try:
        assert not pull_runtime.image_exists(f"{repo}:1.0")
        info = pull_runtime.pull(f"{repo}:1.0")
        assert info.labels.get("v6next.marker") == marker
        assert f"{repo}@{digest}" in info.digests
        assert pull_runtime.image_exists(f"{repo}:1.0")
        assert pull_runtime.image_exists(f"{repo}@{digest}")
        assert ("GET", f"/v2/{repo.split('/', 1)[1]}/manifests/1.0") in reg.requests
    finally:
        pull_runtime.remove_image(f"{repo}:1.0", force=True)
    assert not pull_runtime.image_exists(f"{repo}:1.0")


def test_pull_by_digest(pull_runtime: ContainerRuntime, registry) -> None:
    reg, _ = registry
    repo, digest, marker = _publish(reg)
    try:
        info = pull_runtime.pull(f"{repo}@{digest}")
        assert info.labels.get("v6next.marker") == marker
        assert f"{repo}@{digest}" in info.digests
        assert pull_runtime.image_info(f"{repo}@{digest}") is not None
    finally:
        pull_runtime.remove_image(f"{repo}@{digest}", force=True)


def test_pull_unknown_digest_fails(pull_runtime: ContainerRuntime, registry) -> None:
    reg, _ = registry
    repo, _, _ = _publish(reg)
    with pytest.raises(ImagePullError):
        pull_runtime.pull(f"{repo}@sha256:{'0' * 64}")


def test_pull_unknown_tag_fails(pull_runtime: ContainerRuntime, registry) -> None:
    reg, _ = registry
    repo, _, _ = _publish(reg)
    with pytest.raises(ImagePullError):
        pull_runtime.pull(f"{repo}:no-such-tag")


# -- failed pulls of unreachable images (no registry here answers for ``localhost``) ------------


@pytest.mark.parametrize("local", [True, False], ids=["exists-locally", "missing"])
def test_failed_pull_raises(runtime: ContainerRuntime, base_image: str, local: bool) -> None:
    """A pull that fails raises, even when the image exists locally (podman's Docker API answers
    200 and reports the error in the progress stream)."""
    image = base_image if local else f"localhost/v6test-missing-{uuid.uuid4().hex[:8]}:latest"
    assert runtime.image_exists(image) is local
    with pytest.raises(ImagePullError) as caught:
        runtime.pull(image)
    message = str(caught.value)
    assert image in message
    assert "cannot find it locally" not in message
    assert runtime.image_exists(image) is local


class SilentRegistry:
    """A TCP port that accepts connections and never answers (a hung registry)."""

    def __init__(self) -> None:
        self._server = socket.create_server(("127.0.0.1", 0))
        self.host = f"127.0.0.1:{self._server.getsockname()[1]}"
        self._held: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                conn, _ = self._server.accept()
                self._held.append(conn)  # kept open, never read from or written to

    def close(self) -> None:
        self._server.close()
        for conn in self._held:
            conn.close()


@pytest.mark.parametrize("backend", RUNTIME_NAMES)
def test_pull_from_a_silent_registry_ends_as_a_pull_error(backend: str, tmp_path: Path) -> None:
    """A registry that never answers costs one timeout, then an ImagePullError naming the
    image (the node turns it into `non-existing Docker image`), on both backends."""
    if PODMAN is None:
        pytest.skip("podman is not installed (run containers/setup.sh)")
    silent = SilentRegistry()
    conf = tmp_path / "registries.conf"
    conf.write_text(f'[[registry]]\nlocation = "{silent.host}"\ninsecure = true\n')
    env = {"CONTAINERS_REGISTRIES_CONF": str(conf)}
    image = f"{silent.host}/v6test/hangs:1.0"
    try:
        with contextlib.ExitStack() as stack:
            if backend == "docker":
                service = stack.enter_context(PodmanService(env=env))
                rt = load_runtime("docker", base_url=service.url, pull_timeout=3)
                stack.callback(rt.close)
            else:
                rt = load_runtime("podman", env=env, pull_timeout=3)
            started = time.monotonic()
            with pytest.raises(ImagePullError) as info:
                rt.pull(image)
            assert time.monotonic() - started < 30
            assert image in str(info.value)
    finally:
        silent.close()
