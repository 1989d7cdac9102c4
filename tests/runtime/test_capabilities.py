"""Optional runtime capabilities, with real containers: builds, image transfer and podman as a
node opens it (its own API service, exit notices, log files)."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from tests.runtime.conftest import LABEL
from vantage6_node.runtime import ContainerRuntime, RunSpec, open_for_node

pytestmark = pytest.mark.containers


def test_build_save_remove_and_load(
    runtime: ContainerRuntime, base_image: str, tmp_path: Path
) -> None:
    builder, transfer = runtime.image_builder(), runtime.image_transfer()
    assert builder is not None and transfer is not None
    marker = uuid.uuid4().hex
    tag = f"localhost/v6-capability-test:{marker[:12]}"
    (tmp_path / "Containerfile").write_text(f'FROM {base_image}\nLABEL v6test.marker="{marker}"\n')
    try:
        builder.build(tmp_path, tmp_path / "Containerfile", tag)
        assert runtime.image_info(tag).labels["v6test.marker"] == marker
        archive = tmp_path / "image.tar"
        transfer.save(tag, archive)
        assert archive.stat().st_size > 0
        runtime.remove_image(tag, force=True)
        assert not runtime.image_exists(tag)
        transfer.load(archive)
        assert runtime.image_info(tag).labels["v6test.marker"] == marker
    finally:
        runtime.remove_image(tag, force=True)


def test_podman_for_a_node(base_image: str, tmp_path: Path) -> None:
    """Through its own service: containers run, exits and output are noticed by the podman
    helpers, and closing the runtime ends the service."""
    private = tmp_path / "private"
    rt = open_for_node("podman", private, tmp_path)
    labels = {LABEL: uuid.uuid4().hex}
    try:
        rt.ready()
        assert (private / "podman.sock").exists()
        assert rt.image_exists(base_image)

        async def scenario() -> tuple[int | None, list[str] | None]:
            # podman here logs to k8s-file log files, which the reader reads
            notifier = rt.exit_notifier()
            reader = await asyncio.to_thread(rt.log_reader)
            assert notifier is not None and reader is not None
            try:
                spec = RunSpec(
                    base_image, ["sh", "-c", "echo hello; sleep 0.3; exit 7"], labels=labels
                )
                cid = await asyncio.to_thread(rt.run, spec)
                code = await asyncio.wait_for(notifier.exited(cid), 30)
                assert await asyncio.to_thread(rt.wait, cid, 30) == 7
                assert reader.has(cid)
                return code, reader.read(cid)
            finally:
                notifier.close()

        code, lines = asyncio.run(scenario())
        assert code == 7
        assert lines == ["hello"]
    finally:
        for info in rt.list_containers(labels):
            rt.remove(info.id, force=True)
        rt.close()
    assert not (private / "podman.sock").exists()
    assert not rt.is_available()


def test_podman_for_a_node_without_service(tmp_path: Path) -> None:
    rt = open_for_node("podman", tmp_path / "private", tmp_path, service=False)
    try:
        rt.ready()
        assert rt.blocking_wait and not (tmp_path / "private").exists()
    finally:
        rt.close()
