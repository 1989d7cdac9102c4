"""Environment-variable encoding used between a node and its algorithm containers.

vantage6 base32-encodes every value and replaces ``=`` padding with ``!`` so that
values survive any shell or runtime quoting. A value that does not decode is taken as is.
"""

from __future__ import annotations

import base64
import binascii


def encode_env_value(value: str) -> str:
    """Encode one environment value the vantage6 way."""
    return base64.b32encode(value.encode("utf-8")).decode("ascii").replace("=", "!")


def decode_env_value(value: str) -> str:
    """Decode a value written by :func:`encode_env_value`; return others unchanged."""
    try:
        return base64.b32decode(value.replace("!", "=").encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        return value


def encode_environment(env: dict[str, str]) -> dict[str, str]:
    return {key: encode_env_value(str(val)) for key, val in env.items()}


def decode_environment(env: dict[str, str]) -> dict[str, str]:
    return {key: decode_env_value(val) for key, val in env.items()}
