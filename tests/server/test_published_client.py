"""The published vantage6-client 4.14, in its own virtual environment, against our server."""

from __future__ import annotations

from pathlib import Path

from tests.livestack import LiveServer
from tests.published import run_published_scenario

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
    args = ["http://127.0.0.1", str(live_server.port), live_server.root_password]
    steps = run_published_scenario(SCENARIO, [*args, str(_private_key(tmp_path))], timeout=300)
    assert len(steps) > 25
