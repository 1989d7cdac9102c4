"""Small helpers for code running inside an algorithm container (stdlib only)."""

from __future__ import annotations

import base64
import binascii
import json
import os
import sys
from typing import Any

from vantage6_common.envcoding import decode_env_value

#: Set (to "1") once :func:`decode_environment_in_place` has run; later reads do not decode
#: again, so a decoded value that happens to look like base32 is never decoded twice.
ENV_DECODED_MARKER = "V6_ALGORITHM_ENV_DECODED"

#: Variables the node never encodes (they come from the image).
_NEVER_ENCODED = frozenset({"PKG_NAME", ENV_DECODED_MARKER})


class AlgorithmError(Exception):
    """An error the algorithm tools report to the user with a clear message."""


def info(msg: str) -> None:
    sys.stdout.write(f"info > {msg}\n")
    sys.stdout.flush()


def warn(msg: str) -> None:
    sys.stderr.write(f"warn > {msg}\n")
    sys.stderr.flush()


def error(msg: str) -> None:
    sys.stderr.write(f"error > {msg}\n")
    sys.stderr.flush()


def env_is_decoded() -> bool:
    return os.environ.get(ENV_DECODED_MARKER) == "1"


def decode_environment_in_place() -> None:
    """Decode every environment value the node encoded (base32, ``=`` written as ``!``).

    Values that are not base32 (``PATH``, ``HOME``, ...) stay as they are. Idempotent.
    """
    if env_is_decoded():
        return
    for name in list(os.environ):
        if name in _NEVER_ENCODED:
            continue
        os.environ[name] = decode_env_value(os.environ[name])
    os.environ[ENV_DECODED_MARKER] = "1"


def get_env(name: str, default: str | None = None) -> str | None:
    """Read an environment variable set by the node, decoding it unless already decoded."""
    value = os.environ.get(name)
    if value is None:
        return default
    if name in _NEVER_ENCODED or env_is_decoded():
        return value
    return decode_env_value(value)


def require_env(name: str) -> str:
    value = get_env(name)
    if value is None or value == "":
        raise AlgorithmError(f"Environment variable {name} is not set (is this run by a node?)")
    return value


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """The claims of a JWT, *without* verifying its signature (the server does that)."""
    parts = token.strip().split(".")
    if len(parts) != 3:
        raise AlgorithmError("The token is not a JWT")
    segment = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(segment.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeError) as exc:
        raise AlgorithmError("The token's claims could not be decoded") from exc
    if not isinstance(claims, dict):
        raise AlgorithmError("The token's claims are not a JSON object")
    return claims


def container_identity(token: str) -> dict[str, Any]:
    """The container's identity from its token.

    vantage6 4.x puts the identity (node_id, organization_id, collaboration_id, study_id,
    store_id, task_id, image, databases) as an object in the ``sub`` claim; a token that has
    these as top-level claims instead is understood too.
    """
    claims = decode_jwt_claims(token)
    sub = claims.get("sub")
    if isinstance(sub, dict):
        return sub
    if isinstance(sub, str) and sub.startswith("{"):
        try:
            parsed = json.loads(sub)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    return claims


def read_token(token_file: str | None = None) -> str:
    """The container token from ``TOKEN_FILE`` (or the given file)."""
    path = token_file or require_env("TOKEN_FILE")
    try:
        with open(path, encoding="utf-8") as fp:
            return fp.read().strip()
    except OSError as exc:
        raise AlgorithmError(f"Could not read the token file {path}: {exc}") from exc
