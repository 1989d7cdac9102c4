"""Fixtures of the node security tests: the hostile algorithm image and planted secrets."""

from __future__ import annotations

import secrets
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.node.harness import BASE_IMAGE, DEMO_IMAGE, Federation, Station, image_present, podman

EVIL_IMAGE = "localhost/v6-evil:latest"
EVIL_DIR = Path(__file__).resolve().parent / "node_algo"


@pytest.fixture(scope="session")
def evil_image() -> str:
    """The hostile algorithm image (demo image + tests/security/node_algo/v6evil)."""
    if shutil.which("podman") is None:
        pytest.skip("podman is not installed")
    for image in (BASE_IMAGE, DEMO_IMAGE):
        if not image_present(image):
            pytest.skip(f"image {image} missing (python -m containers.images build)")
    proc = podman(
        "build",
        "--quiet",
        "-t",
        EVIL_IMAGE,
        "-f",
        str(EVIL_DIR / "Containerfile"),
        str(EVIL_DIR),
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"building {EVIL_IMAGE} failed: {proc.stderr}")
    return EVIL_IMAGE


@dataclass
class Secrets:
    """Strings that must never leave a station, and the host files holding them."""

    markers: list[str] = field(default_factory=list)
    host_file: Path | None = None
    canary_dir: Path | None = None

    def leaked(self, *texts: bytes | str | None) -> list[str]:
        found = []
        for text in texts:
            if not text:
                continue
            blob = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
            found += [m for m in self.markers if m in blob]
        return found


def plant_secrets(station: Station) -> Secrets:
    """A marker in the node's configuration, its API key and private key, a host file and a
    folder of canaries (must still be there after any run)."""
    found = Secrets()
    marker = f"CONFIG-MARKER-{secrets.token_hex(8)}"
    with open(station.config_path, "a") as fh:
        fh.write(f"# {marker}\n")
    found.markers += [marker, station.api_key]
    if station.private_key is not None:
        found.markers.append("PRIVATE KEY")
    found.host_file = station.workdir / "host-secret.txt"
    host_marker = f"HOST-FILE-MARKER-{secrets.token_hex(8)}"
    found.host_file.write_text(host_marker)
    found.host_file.chmod(0o600)
    found.markers.append(host_marker)
    found.canary_dir = station.workdir / "canaries"
    found.canary_dir.mkdir(exist_ok=True)
    (found.canary_dir / "canary").write_text("still here")
    return found


def raw_results(fed: Federation, task_id: int) -> list[bytes]:
    """The results of a task as bytes (decrypted when the collaboration is encrypted)."""
    out = []
    data = fed.researcher.ok("GET", "/result", params={"task_id": task_id, "per_page": 100})
    for item in data["data"]:
        value = item.get("result")
        out.append(fed._cryptor.decrypt_str_to_bytes(value) if value else b"")  # noqa: SLF001
    return out
