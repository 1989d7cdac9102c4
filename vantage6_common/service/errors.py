"""Uniform error answers of a service: ``{"msg": ...}`` and, for bad bodies, field errors."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """Raised by endpoints to answer with a status and a message."""

    def __init__(self, status: int, msg: str, errors: dict[str, Any] | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.errors = errors


def bad_request(msg: str, errors: dict[str, Any] | None = None) -> ApiError:
    return ApiError(400, msg, errors)


def not_found(what: str, id_: int | str) -> ApiError:
    return ApiError(404, f"{what} id={id_} not found")


def field_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    """Validation problems by dotted field name (``body`` when the whole body is wrong)."""
    errors: dict[str, list[str]] = defaultdict(list)
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        errors[".".join(loc) or "body"].append(err.get("msg", "invalid"))
    return dict(errors)


def install_error_handlers(app: FastAPI, *, denied: type[Exception], denied_status: int) -> None:
    """Answer errors as JSON; ``denied`` (an exception with ``msg``) gets ``denied_status``."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body: dict[str, Any] = {"msg": exc.msg}
        if exc.errors:
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(denied)
    async def _denied(_request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"msg": getattr(exc, "msg", str(exc))}, status_code=denied_status)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        in_body = any((err.get("loc") or ("body",))[0] == "body" for err in exc.errors())
        msg = "Request body is incorrect" if in_body else "Request parameters are incorrect"
        return JSONResponse({"msg": msg, "errors": field_errors(exc)}, status_code=400)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_request: Request, _exc: Exception) -> JSONResponse:
        # SQLite cannot bind integers beyond 64 bits; PostgreSQL rejects numbers that do not
        # fit a column and text with NUL characters: either way the request is at fault.
        return JSONResponse(
            {
                "msg": "A value in the request is out of range or has characters (NUL) "
                "that cannot be stored"
            },
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"msg": str(exc.detail)}, status_code=exc.status_code)
