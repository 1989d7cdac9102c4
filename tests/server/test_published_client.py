"""The published vantage6-client 4.14, in its own virtual environment, against our server."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.livestack import LiveServer
from tests.published import published_python

SCENARIO = Path(__file__).parent / "published" / "scenario.py"


def _private_key(tmp_path: Path) -> Path:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "private.pem"
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


def test_published_client_scenario(live_server: LiveServer, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            str(published_python()),
            str(SCENARIO),
            "http://127.0.0.1",
            str(live_server.port),
            live_server.root_password,
            str(_private_key(tmp_path)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    steps = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [s for s in steps if not s.get("ok", True)]
    assert result.returncode == 0 and not failed, (
        f"failed: {failed}\nstdout:{result.stdout[-4000:]}\nstderr:{result.stderr[-4000:]}"
    )
    assert steps[-1] == {"done": True}
    assert len(steps) > 25
