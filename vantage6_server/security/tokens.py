"""JWT access, refresh and container tokens (HS256)."""

from __future__ import annotations

import datetime as dt
import hmac
import secrets
import time
from dataclasses import dataclass, field
from typing import Any

import jwt

ALGORITHM = "HS256"


class TokenError(Exception):
    """A token is missing, malformed, forged, expired or of the wrong kind."""


def key_matches(claims: dict[str, Any], token_key: str | None) -> bool:
    """Whether a token was issued to this very row (its ``key`` claim is the row's
    ``token_key``), not to a deleted one whose id the row got."""
    claimed = claims.get("key")
    if not isinstance(claimed, str) or not token_key:
        return False
    return hmac.compare_digest(claimed.encode(), token_key.encode())


def new_family() -> str:
    return secrets.token_hex(16)


#: tokens whose verified claims are kept (the cache is emptied when it grows past this)
DECODED_CACHE_SIZE = 4096


@dataclass(frozen=True)
class TokenIssuer:
    secret: str
    access_minutes: int
    refresh_minutes: int
    # (token, expected type) -> verified claims. A token is checked once (signature, claims,
    # type); a repeat only needs its expiry checked again. Revocation is not decided here: the
    # caller checks the subject's row on every request.
    _decoded: dict[tuple[str, str], dict[str, Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False
    )

    def _encode(self, claims: dict[str, Any], minutes: int | None) -> str:
        now = dt.datetime.now(dt.UTC)
        payload = {"iat": now, "nbf": now, "jti": secrets.token_hex(8), **claims}
        if minutes is not None:
            payload["exp"] = now + dt.timedelta(minutes=minutes)
        return jwt.encode(payload, self.secret, algorithm=ALGORITHM)

    def pair(
        self,
        identity: int,
        client_type: str,
        key: str,
        extra: dict[str, Any] | None = None,
        family: str | None = None,
        generation: int = 0,
    ) -> dict:
        """Access and refresh tokens for a user or a node.

        ``key`` is the subject's ``token_key``; the refresh token is number ``generation`` of
        ``family`` (a new family, i.e. a new login, when not given).
        """
        claims = {"sub": identity, "client_type": client_type, "key": key, **(extra or {})}
        refresh = {"type": "refresh", "fam": family or new_family(), "gen": generation}
        return {
            "access_token": self._encode({**claims, "type": "access"}, self.access_minutes),
            "refresh_token": self._encode({**claims, **refresh}, self.refresh_minutes),
        }

    def refresh_expiry(self) -> dt.datetime:
        """When a refresh token issued now expires (naive UTC, as the database keeps it)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
        return now + dt.timedelta(minutes=self.refresh_minutes)

    def container(self, identity: dict[str, Any], minutes: int, key: str) -> str:
        """A container token; the server also rejects it once its task has finished.

        ``key`` is the task's ``token_key``.
        """
        # vantage6 algorithm tools read the container identity from the "sub" claim.
        claims = {"sub": identity, "client_type": "container", "type": "access", "key": key}
        return self._encode(claims, minutes)

    def decode(self, token: str, expected_type: str = "access") -> dict[str, Any]:
        known = self._decoded.get((token, expected_type))
        if known is not None:
            expires = known.get("exp")
            if expires is None or time.time() < expires:
                return dict(known)
            self._decoded.pop((token, expected_type), None)
        claims = self._verify(token, expected_type)
        if len(self._decoded) >= DECODED_CACHE_SIZE:
            self._decoded.clear()
        self._decoded[(token, expected_type)] = claims
        return dict(claims)

    def _verify(self, token: str, expected_type: str) -> dict[str, Any]:
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
