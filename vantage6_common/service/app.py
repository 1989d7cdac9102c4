"""A service's FastAPI application: its routers under the API path, docs and CORS."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from contextlib import AbstractAsyncContextManager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from vantage6_common import __version__

#: headers a browser client may read: the page envelope's ``total-count`` and ``Link``
EXPOSED_HEADERS = ["total-count", "Link"]


def create_api(
    *,
    title: str,
    ctx: object,
    api_path: str,
    routers: Iterable[APIRouter],
    cors_origins: list[str],
    redoc: bool = False,
    lifespan: Callable[[FastAPI], AbstractAsyncContextManager[None]] | None = None,
    responses: dict[int | str, dict[str, Any]] | None = None,
) -> FastAPI:
    """The app with ``ctx`` in its state (routes find the service's context there).

    ``responses`` are added to every route's documented answers.
    """
    app = FastAPI(
        title=title,
        version=__version__,
        openapi_url=f"{api_path}/openapi.json",
        docs_url=f"{api_path}/docs",
        redoc_url=f"{api_path}/redoc" if redoc else None,
        lifespan=lifespan,
    )
    app.state.ctx = ctx
    for router in routers:
        app.include_router(router, prefix=api_path, responses=responses)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=cors_origins,
        allow_methods=["*"],
        allow_headers=["*"],
        expose_headers=EXPOSED_HEADERS,
    )
    return app
