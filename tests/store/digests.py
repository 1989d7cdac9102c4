"""A digest resolver for tests: a fixed digest per image reference (no registry needed).

The store's ``registry`` resolver needs a registry; these tests are about the store's own
rules, so they plug in this one (``digest_resolver: tests.store.digests:by_name``).
"""

from __future__ import annotations

import hashlib

#: references this resolver refuses to resolve (an image that is not in any registry)
UNKNOWN_PREFIX = "unknown/"


def by_name(image: str) -> str | None:
    if image.startswith(UNKNOWN_PREFIX):
        return None
    return "sha256:" + hashlib.sha256(image.encode()).hexdigest()
