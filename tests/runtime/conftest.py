"""Fixtures for the container runtime tests: one suite, run against every backend.

``runtime`` is parametrised over ``podman`` (CLI) and ``docker`` (docker SDK against a
``podman system service`` that this module starts on a temporary socket and stops afterwards).
Everything uses real containers from the locally built base image.
"""

from __future__ import annotations

import os
import shutil
import time
import uuid
from collections.abc import Iterator

import pytest

from vantage6_node.runtime import ContainerRuntime, load_runtime
from vantage6_runtime_podman.environ import ensure_containers_conf

ensure_containers_conf()

PODMAN = shutil.which("podman")
RUNTIME_NAMES = ("podman", "docker")
LABEL = "v6next.test"


def pytest_collection_finish(session: pytest.Session) -> None:
    """Build missing or stale images once, before any test runs, when container tests are
    selected. Done here rather than in a fixture: a cold build (debootstrap) takes minutes,
    longer than one test's time limit, and tests in other folders skip without the images."""
    if PODMAN is None or os.environ.get("V6_SKIP_IMAGE_BUILD"):
        return
    wanted = any(
        item.get_closest_marker("containers") is not None
        or item.nodeid.startswith(("tests/runtime/", "tests/node/"))
        for item in session.items
    )
    if not wanted:
        return
    from containers.images import ImageBuildError, ensure_images

    reporter = session.config.pluginmanager.get_plugin("terminalreporter")

    def log(line: str) -> None:
        if reporter is not None:
            reporter.write_line(f"[images] {line}")

    started = time.monotonic()
    try:
        ensure_images(log=log)
    except ImageBuildError as exc:  # the fixtures report it again, per test
        log(f"building images failed: {exc}")
        return
    if time.monotonic() - started > 5:
        log(f"images ready after {time.monotonic() - started:.0f}s")


def _require_podman() -> None:
    if PODMAN is None:
        pytest.skip("podman is not installed (run containers/setup.sh)")


@pytest.fixture(scope="session")
def v6_images() -> dict[str, str]:
    """Build (or reuse) all local images; {short name: image reference}."""
    _require_podman()
    from containers.images import ensure_images

    return ensure_images()


@pytest.fixture(scope="session")
def base_image() -> str:
    """The Debian + python3 base image (built on first use, cached afterwards)."""
    _require_podman()
    from containers.images import BASE_IMAGE, ensure_images

    ensure_images(["base"])
    return BASE_IMAGE


@pytest.fixture(scope="session")
def podman_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a private ``podman system service`` (Docker API), stopped after the session."""
    _require_podman()
    from vantage6_runtime_podman.service import PodmanService

    folder = tmp_path_factory.mktemp("podman-svc")
    service = PodmanService(folder / "podman.sock", log_path=folder / "service.log")
    service.start()
    yield service.url
    service.stop()


@pytest.fixture(scope="session", params=RUNTIME_NAMES)
def runtime(request: pytest.FixtureRequest) -> Iterator[ContainerRuntime]:
    _require_podman()
    if request.param == "docker":
        url = request.getfixturevalue("podman_service")
        rt = load_runtime("docker", base_url=url)
    else:
        rt = load_runtime("podman")
    assert rt.is_available(), f"{request.param} runtime is not available"
    yield rt
    rt.close()


@pytest.fixture
def test_labels(runtime: ContainerRuntime) -> Iterator[dict[str, str]]:
    """Labels unique to one test; every container carrying them is removed afterwards."""
    labels = {LABEL: uuid.uuid4().hex}
    yield labels
    for info in runtime.list_containers(labels):
        runtime.remove(info.id, force=True)
