"""vantage6-style pages: ``{"data", "links"}`` with ``total-count`` and ``Link`` headers."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from vantage6_store.errors import bad_request

MAX_PER_PAGE = 1000


def _url(request: Request, page: int, per_page: int) -> str:
    params = [
        (k, v) for k, v in request.query_params.multi_items() if k not in ("page", "per_page")
    ]
    return f"{request.url.path}?{urlencode([*params, ('page', page), ('per_page', per_page)])}"


def page_response(
    request: Request,
    session: Session,
    stmt: Select,
    serialize: Callable[[Any], dict],
    order_by: Any,
    page: int = 1,
    per_page: int = 10,
) -> JSONResponse:
    """Run ``stmt`` one page at a time (``no_pagination=1``: everything) and answer."""
    if page < 1 or per_page < 1 or page > 2**31 - 1:
        raise bad_request("page and per_page must be positive integers")
    per_page = min(per_page, MAX_PER_PAGE)
    total = session.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    stmt = stmt.order_by(order_by)
    if request.query_params.get("no_pagination") in ("1", "true", "True"):
        page, per_page = 1, max(total, 1)
    else:
        stmt = stmt.limit(per_page).offset((page - 1) * per_page)
    items = [serialize(row) for row in session.scalars(stmt).unique()]
    last = max(1, math.ceil(total / per_page))
    links = {
        "first": _url(request, 1, per_page),
        "self": _url(request, page, per_page),
        "last": _url(request, last, per_page),
    }
    if page > 1:
        links["previous"] = _url(request, min(page - 1, last), per_page)
    if page < last:
        links["next"] = _url(request, page + 1, per_page)
    return JSONResponse(
        {"data": items, "links": links},
        headers={
            "total-count": str(total),
            "Link": ", ".join(f'<{u}>; rel="{rel}"' for rel, u in links.items()),
        },
    )
