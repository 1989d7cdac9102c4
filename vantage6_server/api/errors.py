"""Uniform error bodies: ``{"msg": ...}`` and, for bad bodies, field errors."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vantage6_server.rbac.errors import PermissionDenied


class ApiError(Exception):
    """Raised by endpoints to answer with a status and a message."""

    def __init__(self, status: int, msg: str, errors: dict | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.errors = errors


class ErrorBody(BaseModel):
    """What every error answer looks like (documented in OpenAPI)."""

    msg: str
    errors: dict[str, Any] | None = None


def _error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Error answers any route may give; added to every router in the OpenAPI document.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error_doc("Bad request: malformed or invalid body or parameters"),
    401: _error_doc("Missing, invalid or expired credentials"),
    403: _error_doc("Authenticated but not allowed"),
    404: _error_doc("Not found"),
    413: _error_doc("Request body too large"),
}


def bad_request(msg: str, errors: dict | None = None) -> ApiError:
    return ApiError(400, msg, errors)


def not_found(what: str, id_: int | str) -> ApiError:
    return ApiError(404, f"{what} id={id_} not found")


def forbidden(msg: str = "You lack the permission to do that!") -> ApiError:
    return ApiError(403, msg)


def unauthorized(msg: str = "Missing or invalid credentials") -> ApiError:
    return ApiError(401, msg)


def _field_errors(exc: RequestValidationError) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = defaultdict(list)
    for err in exc.errors():
        loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
        errors[".".join(loc) or "body"].append(err.get("msg", "invalid"))
    return dict(errors)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        body: dict = {"msg": exc.msg}
        if exc.errors:
            body["errors"] = exc.errors
        return JSONResponse(body, status_code=exc.status)

    @app.exception_handler(PermissionDenied)
    async def _denied(_request: Request, exc: PermissionDenied) -> JSONResponse:
        return JSONResponse({"msg": exc.msg}, status_code=403)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        in_body = any((err.get("loc") or ("body",))[0] == "body" for err in exc.errors())
        msg = "Request body is incorrect" if in_body else "Request parameters are incorrect"
        return JSONResponse({"msg": msg, "errors": _field_errors(exc)}, status_code=400)

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


def document_errors(app: FastAPI) -> None:
    """Drop FastAPI's default 422 answer from the OpenAPI document: we answer 400."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        schema = build()
        for operations in schema.get("paths", {}).values():
            for operation in operations.values():
                if isinstance(operation, dict):
                    operation.get("responses", {}).pop("422", None)
        components = schema.get("components", {}).get("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            components.pop(name, None)
        return schema

    app.openapi = openapi
