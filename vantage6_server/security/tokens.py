"""JWT access, refresh and container tokens (HS256)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from typing import Any

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """A token is missing, malformed, forged, expired or of the wrong kind."""


@dataclass(frozen=True)
class TokenIssuer:
    secret: str
    access_minutes: int
    refresh_minutes: int

    def _encode(self, claims: dict[str, Any], minutes: int | None) -> str:
        now = dt.datetime.now(dt.UTC)
        payload = {"iat": now, "nbf": now, "jti": secrets.token_hex(8), **claims}
        if minutes is not None:
            payload["exp"] = now + dt.timedelta(minutes=minutes)
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def pair(self, identity: int, client_type: str, extra: dict[str, Any] | None = None) -> dict:
        """Access and refresh tokens for a user or a node."""
        claims = {"sub": identity, "client_type": client_type, **(extra or {})}
        return {
            "access_token": self._encode({**claims, "type": "access"}, self.access_minutes),
            "refresh_token": self._encode({**claims, "type": "refresh"}, self.refresh_minutes),
        }

    def container(self, identity: dict[str, Any], minutes: int) -> str:
        """A container token; the server also rejects it once its task has finished."""
        # vantage6 algorithm tools read the container identity from the "sub" claim.
        claims = {"sub": identity, "client_type": "container", "type": "access"}
        return self._encode(claims, minutes)

    def decode(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        try:
            claims = jwt.decode(
                token,
                self.secret,
                algorithms=[ALGORITHM],
                options={"require": ["sub", "iat", "type", "client_type"], "verify_sub": False},
            )
        except jwt.ExpiredSignatureError as exc:
            raise TokenError("Token has expired") from exc
        except jwt.PyJWTError as exc:
            raise TokenError("Invalid token") from exc
        if claims.get("type") != expected_type:
            raise TokenError(f"Expected an {expected_type} token")
        return claims
