"""Shared helpers for the algorithm-tools tests (puts the test algorithm packages on sys.path)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DEMO_DIR = REPO / "algorithms" / "demo"
ALGO_PKGS = Path(__file__).resolve().parent / "algo_pkgs"

for _path in (DEMO_DIR, ALGO_PKGS):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_token(claims: dict, secret: bytes = b"test-secret") -> str:
    """An HS256 JWT with the given claims (the algorithm side never checks the signature)."""
    header = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims).encode())
    signing_input = f"{header}.{body}".encode()
    signature = _b64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f"{header}.{body}.{signature}"


IDENTITY = {
    "client_type": "container",
    "node_id": 7,
    "organization_id": 3,
    "collaboration_id": 2,
    "study_id": None,
    "store_id": None,
    "task_id": 11,
    "image": "harbor.example/demo:1",
    "databases": [{"label": "default", "type": "csv"}],
}


def vantage6_token(identity: dict | None = None) -> str:
    """A token shaped like vantage6 4.x container tokens: identity object in ``sub``."""
    return make_token({"sub": identity or IDENTITY, "iat": 1700000000, "type": "access"})
