"""Time-based one-time passwords (RFC 6238, 30 s steps, one step of drift allowed).

A code is accepted once: the caller keeps the step of the last accepted code and passes it
as ``after``; codes of that step or an older one are refused.
"""

from __future__ import annotations

import hmac
import time

import pyotp


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, username: str, issuer: str) -> str:
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=issuer)


def accepted_step(secret: str | None, code: str | None, after: int | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid now and newer than ``after``."""
    if not secret or not code:
        return None
    code = str(code).strip()
    totp = pyotp.TOTP(secret)
    now = int(time.time()) // totp.interval
    found = None
    for step in (now - 1, now, now + 1):
        newer = after is None or step > after
        # compare every candidate, so the time taken does not depend on which one matched
        if hmac.compare_digest(totp.generate_otp(step), code) and newer:
            found = step
    return found
