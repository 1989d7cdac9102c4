"""Random secrets and their digests (API keys, recovery tokens)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid


def new_api_key() -> str:
    """A node API key: a random UUID4, as vantage6 hands out."""
    return str(uuid.UUID(bytes=secrets.token_bytes(16), version=4))


def new_token() -> str:
    return secrets.token_urlsafe(32)


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret; indexed so the owner is found in O(1)."""
    return hashlib.sha256(secret.strip().encode("utf-8")).hexdigest()


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
