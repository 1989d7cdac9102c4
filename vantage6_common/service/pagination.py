"""vantage6-style pages: ``{"data", "links"}`` plus ``total-count`` and ``Link`` headers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vantage6_common.service.errors import bad_request

MAX_PER_PAGE = 1000
MAX_PAGE = 2**31 - 1


class PageLinks(BaseModel):
    first: str
    self_: str = Field(alias="self")
    last: str
    previous: str | None = None
    next: str | None = None


def parse_sort(sort: str | None, columns: dict[str, Any]) -> list[Any]:
    """``sort=name,-id`` to ORDER BY clauses; unknown fields are a 400."""
    clauses = []
    for raw in (sort or "").split(","):
        field = raw.strip()
        if not field:
            continue
        descending = field.startswith("-")
        name = field.lstrip("-+")
        if name not in columns:
            raise bad_request(f"Cannot sort by '{name}'", {"sort": [f"unknown field {name}"]})
        column = columns[name]
        clauses.append(column.desc() if descending else column.asc())
    return clauses


def _page_url(request: Request, page: int, per_page: int) -> str:
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "per_page")
    ]
    params += [("page", str(page)), ("per_page", str(per_page))]
    return f"{request.url.path}?{urlencode(params)}"


def page_response(
    request: Request,
    session: Session,
    stmt: Select[Any],
    serialize: Callable[[Any], dict[str, Any]],
    *,
    page: int = 1,
    per_page: int = 10,
    sort_columns: dict[str, Any] | None = None,
    sort: str | None = None,
    default_order: Sequence[Any] = (),
    rows: bool = False,
) -> JSONResponse:
    """Run a filtered SELECT one page at a time and answer the vantage6 way.

    ``stmt`` selects one ORM entity, or with ``rows`` the columns ``serialize`` reads (plain
    rows cost much less to load than objects).
    """
    if page < 1 or per_page < 1:
        raise bad_request("page and per_page must be positive integers")
    if page > MAX_PAGE:
        raise bad_request(f"page must be at most {MAX_PAGE}", {"page": ["out of range"]})
    no_pagination = request.query_params.get("no_pagination") in ("1", "true", "True")
    per_page = min(per_page, MAX_PER_PAGE)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    order = parse_sort(sort, sort_columns or {}) or list(default_order)
    stmt = stmt.order_by(*order)
    if no_pagination:
        per_page = max(total, 1)
        page = 1
    else:
        stmt = stmt.limit(per_page).offset((page - 1) * per_page)
    result = session.execute(stmt) if rows else session.scalars(stmt).unique()
    items = [serialize(obj) for obj in result]
    last = max(1, math.ceil(total / per_page))
    links = {
        "first": _page_url(request, 1, per_page),
        "self": _page_url(request, page, per_page),
        "last": _page_url(request, last, per_page),
    }
    if page > 1:
        links["previous"] = _page_url(request, min(page - 1, last), per_page)
    if page < last:
        links["next"] = _page_url(request, page + 1, per_page)
    link_header = ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
    return JSONResponse(
        {"data": items, "links": links},
        headers={"total-count": str(total), "Link": link_header},
    )
