"""Fixtures for a live server (SQLite) that keeps blobs in a filesystem store of its own.

Import both into a test module (``from tests.blobserver import blob_dir, live_server``); they
replace the session-wide ``live_server`` there, module-scoped.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from tests.livestack import LiveServer, start_server


@pytest.fixture(scope="module")
def blob_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("blobs")


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, blob_dir: Path) -> LiveServer:
    config = tmp_path_factory.mktemp("config") / "server.yaml"
    config.write_text(
        yaml.safe_dump({"large_result_store": {"type": "filesystem", "path": str(blob_dir)}})
    )
    server, cleanup = start_server("sqlite", config_file=config)
    yield server
    cleanup()
