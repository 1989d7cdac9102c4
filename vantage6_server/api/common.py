"""Small helpers shared by the routers."""

from __future__ import annotations

from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select
from sqlalchemy.orm import Session

from vantage6_server.api.errors import ApiError, forbidden, not_found

T = TypeVar("T")


class Body(BaseModel):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LenientBody(BaseModel):
    """A body the published vantage6 client may send with extra fields we ignore."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


MAX_ID = 2**31 - 1  # ids are INTEGER columns (32 bits in PostgreSQL)


class IdBody(LenientBody):
    """``{"id": N}``: the body of the add/remove/kill/recover calls."""

    id: int = Field(ge=1)


def get_or_404(session: Session, model: type[T], id_: int, label: str) -> T:
    if id_ > MAX_ID or id_ < 0:
        raise not_found(label, id_)
    obj = session.get(model, id_)
    if obj is None:
        raise not_found(label, id_)
    return obj


def require(condition: bool, msg: str = "You lack the permission to do that!") -> None:
    if not condition:
        raise forbidden(msg)


def in_scope(ids: set[int] | None, *candidates: int | None) -> bool:
    """Whether any candidate id is covered (``None`` scope = everything)."""
    if ids is None:
        return True
    return any(c in ids for c in candidates if c is not None)


def restrict(stmt: Select, column: Any, ids: set[int] | None) -> Select:
    """Limit a SELECT to ids in scope (no limit for global scope)."""
    if ids is None:
        return stmt
    return stmt.where(column.in_(ids or {-1}))


def conflict(msg: str) -> ApiError:
    return ApiError(400, msg)


def parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def includes(values: list[str] | None) -> set[str]:
    """``?include=a&include=b`` or ``?include=a,b`` as a set of names."""
    return {part.strip() for v in values or [] for part in v.split(",") if part.strip()}
