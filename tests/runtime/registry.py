"""A tiny read-only OCI registry on 127.0.0.1 for pull tests (HTTP, in memory).

It serves only what a pull needs: ``/v2/``, manifests by tag or digest, and blobs. Images are
made in Python (one uncompressed layer with the given files), so no other registry is needed.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"

_MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")
_BLOB_PATH = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")


def _digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _layer(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, content in sorted(files.items()):
            info = tarfile.TarInfo(path.lstrip("/"))
            info.size = len(content)
            info.mode = 0o644
            info.mtime = 0
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


class TinyRegistry:
    """``with TinyRegistry() as reg: digest = reg.add_image("v6/tiny", "1", {...})``."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.manifests: dict[tuple[str, str], bytes] = {}
        self.requests: list[tuple[str, str]] = []
        registry = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
                self.send_response(code)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Docker-Distribution-API-Version", "registry/2.0")
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)

            def _not_found(self, code: str) -> None:
                body = json.dumps({"errors": [{"code": code, "message": code}]}).encode()
                self._send(404, body, {"Content-Type": "application/json"})

            def do_GET(self) -> None:  # noqa: N802
                registry.requests.append((self.command, self.path))
                if self.path in ("/v2/", "/v2"):
                    self._send(200, b"{}", {"Content-Type": "application/json"})
                    return
                match = _MANIFEST_PATH.match(self.path)
                if match:
                    body = registry.manifests.get((match["name"], match["ref"]))
                    if body is None:
                        self._not_found("MANIFEST_UNKNOWN")
                        return
                    headers = {"Content-Type": OCI_MANIFEST, "Docker-Content-Digest": _digest(body)}
                    self._send(200, body, headers)
                    return
                match = _BLOB_PATH.match(self.path)
                if match and match["digest"] in registry.blobs:
                    body = registry.blobs[match["digest"]]
                    headers = {
                        "Content-Type": "application/octet-stream",
                        "Docker-Content-Digest": match["digest"],
                    }
                    self._send(200, body, headers)
                    return
                self._not_found("BLOB_UNKNOWN" if match else "NAME_UNKNOWN")

            do_HEAD = do_GET  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def host(self) -> str:
        return f"127.0.0.1:{self._server.server_address[1]}"

    def add_image(
        self, name: str, tag: str, files: dict[str, bytes], labels: dict[str, str] | None = None
    ) -> str:
        """Publish an image under ``name:tag``; return its manifest digest."""
        layer = _layer(files)
        config = json.dumps(
            {
                "architecture": "amd64",
                "os": "linux",
                "config": {"Labels": labels or {}, "Cmd": ["/bin/true"]},
                "rootfs": {"type": "layers", "diff_ids": [_digest(layer)]},
            },
            sort_keys=True,
        ).encode()
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {"mediaType": OCI_CONFIG, "digest": _digest(config), "size": len(config)},
                "layers": [{"mediaType": OCI_LAYER, "digest": _digest(layer), "size": len(layer)}],
            },
            sort_keys=True,
        ).encode()
        for blob in (layer, config):
            self.blobs[_digest(blob)] = blob
        digest = _digest(manifest)
        self.manifests[(name, tag)] = manifest
        self.manifests[(name, digest)] = manifest
        return digest

    def registries_conf(self, folder: Path) -> Path:
        """A registries.conf that lets podman talk plain HTTP to this registry."""
        path = folder / "registries.conf"
        path.write_text(f'[[registry]]\nlocation = "{self.host}"\ninsecure = true\n')
        return path

    def __enter__(self) -> TinyRegistry:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
