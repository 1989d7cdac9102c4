"""Small helpers shared by the routers."""

from __future__ import annotations

import re
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator
from sqlalchemy.orm import Session

from vantage6_server.api.errors import ApiError, not_found
from vantage6_server.rbac.errors import PermissionDenied

T = TypeVar("T")

# control characters (C0, DEL, C1): never in one-line text; NUL never anywhere (PostgreSQL
# refuses it in text, SQLite would store it)
_ONE_LINE_BAD = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_MULTI_LINE_BAD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_NUL = "\x00"


def _check_text(value: Any, multiline: bool) -> Any:
    """Refuse control characters in a value (recursively in lists and JSON objects)."""
    if isinstance(value, str):
        bad = (_MULTI_LINE_BAD if multiline else _ONE_LINE_BAD).search(value)
        if bad:
            raise ValueError(f"must not contain control characters (found {bad.group()!r})")
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key, False)
            _check_text(item, True)
    elif isinstance(value, list | tuple):
        for item in value:
            _check_text(item, multiline)
    return value


class _TextRules(BaseModel):
    """Text in request bodies is stored alike on SQLite and PostgreSQL: one-line fields take
    no control characters, ``multiline_fields`` take tabs and line breaks, ``free_text_fields``
    (container logs) everything but NUL, which is replaced."""

    multiline_fields: ClassVar[frozenset[str]] = frozenset()
    free_text_fields: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="after")
    @classmethod
    def _no_control_characters(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.free_text_fields:
            return value.replace(_NUL, "\ufffd") if isinstance(value, str) else value
        return _check_text(value, info.field_name in cls.multiline_fields)


class Body(_TextRules):
    """Base of request bodies: unknown fields are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class LenientBody(_TextRules):
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
        raise PermissionDenied(msg)


def conflict(msg: str) -> ApiError:
    return ApiError(400, msg)


def parse_bool(value: str | None) -> bool | None:
    if value is None:
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


def includes(values: list[str] | None) -> set[str]:
    """``?include=a&include=b`` or ``?include=a,b`` as a set of names."""
    return {part.strip() for v in values or [] for part in v.split(",") if part.strip()}
