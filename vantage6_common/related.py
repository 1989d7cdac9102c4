"""Ids of related objects, which vantage6 4.x sends as stubs ``{"id": 5, "link": ...}``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def related_id(value: Any) -> int | None:
    """The id in a stub ``{"id": 5, ...}``, a bare ``5`` or ``"5"``; None for anything else."""
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        return int(value)
    return None


def related_ids(values: Iterable[Any]) -> list[int]:
    """The ids of stubs or bare ids; ``ValueError`` names the first that is neither."""
    ids = []
    for value in values:
        found = related_id(value)
        if found is None:
            raise ValueError(f"not an id or an object with an id: {value!r}")
        ids.append(found)
    return ids
