"""A real container registry on loopback for tests: Debian's ``docker-registry`` (distribution).

``start_registry(workdir)`` runs ``docker-registry serve`` with its own config and storage in
``workdir`` on a free 127.0.0.1 port (plain HTTP, no auth) and waits for ``/v2/``.
:meth:`LocalRegistry.push` copies a local podman image into it and answers the digest the
registry recorded; pushing another image under the same tag moves the tag.

Podman talks to a plain-HTTP registry only when told: :meth:`LocalRegistry.registries_conf`
writes a ``registries.conf`` marking this registry insecure, for ``CONTAINERS_REGISTRIES_CONF``
(e.g. a node's ``runtime_options: {env: {...}}``).

The pytest fixture ``local_registry`` (tests/conftest.py) gives one per test session.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

from tests.livestack import end_process, free_port

REPO = Path(__file__).resolve().parents[1]
BINARY = "docker-registry"
INSTALL_HINT = "apt-get install -y docker-registry"


def podman_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
    env.update(extra or {})
    return env


@dataclass
class LocalRegistry:
    """A running ``docker-registry`` on 127.0.0.1."""

    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    @property
    def host(self) -> str:
        """``127.0.0.1:PORT``: the registry part of image references."""
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def image(self, repository: str, tag: str = "latest") -> str:
        """The reference of ``repository:tag`` in this registry."""
        return f"{self.host}/{repository}:{tag}"

    def registries_conf(self) -> Path:
        """A registries.conf that lets podman use this plain-HTTP registry."""
        path = self.workdir / "registries.conf"
        path.write_text(f'[[registry]]\nlocation = "{self.host}"\ninsecure = true\n')
        return path

    def start(self, timeout: float = 30) -> LocalRegistry:
        storage = self.workdir / "storage"
        storage.mkdir(parents=True, exist_ok=True)
        config = {
            "version": 0.1,
            "log": {"level": "warn"},
            "storage": {"filesystem": {"rootdirectory": str(storage)}, "delete": {"enabled": True}},
            "http": {"addr": self.host},
        }
        config_file = self.workdir / "config.yml"
        config_file.write_text(yaml.safe_dump(config))
        log = open(self.workdir / "registry.log", "ab")  # noqa: SIM115 - owned by the process
        self.process = subprocess.Popen(
            [BINARY, "serve", str(config_file)], stdout=log, stderr=subprocess.STDOUT
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/v2/", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"docker-registry did not start:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self) -> None:
        end_process(self.process)

    def log_tail(self, chars: int = 3000) -> str:
        try:
            return (self.workdir / "registry.log").read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def push(self, local_image: str, repository: str, tag: str = "latest") -> str:
        """Push a local podman image as ``repository:tag``; the digest the registry has."""
        target = self.image(repository, tag)
        digest_file = self.workdir / "pushed.digest"
        proc = subprocess.run(
            [
                "podman",
                "push",
                "--quiet",
                "--tls-verify=false",
                "--digestfile",
                str(digest_file),
                local_image,
                f"docker://{target}",
            ],
            capture_output=True,
            text=True,
            env=podman_env(),
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"podman push {local_image} -> {target}: {proc.stderr.strip()}")
        return digest_file.read_text().strip()

    def digest(self, repository: str, tag: str = "latest") -> str:
        """The digest ``repository:tag`` points to (asked over the Registry API)."""
        response = httpx.head(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            headers={
                "Accept": "application/vnd.oci.image.manifest.v1+json, "
                "application/vnd.docker.distribution.manifest.v2+json"
            },
            timeout=10,
        )
        response.raise_for_status()
        return response.headers["docker-content-digest"]


def registry_available() -> str | None:
    """None when a registry can be started here, else why not."""
    if shutil.which(BINARY) is None:
        return f"{BINARY} is not installed ({INSTALL_HINT})"
    if shutil.which("podman") is None:
        return "podman is not installed"
    return None


def start_registry(workdir: Path | None = None) -> LocalRegistry:
    """A started registry in ``workdir`` (a fresh temporary folder when None)."""
    folder = workdir or Path(tempfile.mkdtemp(prefix="v6-registry-"))
    return LocalRegistry(workdir=folder).start()
