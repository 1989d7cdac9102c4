"""Password hashing (argon2id) and the password policy."""

from __future__ import annotations

import re

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# argon2id at the OWASP-recommended minimum (19 MiB, 2 passes, 1 lane): strong and fast.
_hasher = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)
# Verified against when the user does not exist, so that timing does not reveal it.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0A!")

MIN_LENGTH = 8
MAX_LENGTH = 128


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    """Check a password in constant time; a missing hash still costs one verification."""
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


def password_problems(password: str) -> list[str]:
    """What is wrong with a new password (empty list when it is acceptable)."""
    problems = []
    if not MIN_LENGTH <= len(password) <= MAX_LENGTH:
        problems.append(f"must be {MIN_LENGTH} to {MAX_LENGTH} characters long")
    if not re.search(r"\d", password):
        problems.append("must contain a digit")
    if not re.search(r"[A-Z]", password):
        problems.append("must contain an uppercase letter")
    if not re.search(r"[a-z]", password):
        problems.append("must contain a lowercase letter")
    if not re.search(r"[^A-Za-z0-9]", password):
        problems.append("must contain a symbol")
    return problems
