"""Uniform error bodies: ``{"msg": ...}`` and, for bad bodies, field errors."""

from __future__ import annotations

from collections import defaultdict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class ApiError(Exception):
    """Raised by endpoints to answer with a status and a message."""

    def __init__(self, status: int, msg: str, errors: dict | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.errors = errors


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

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            {"msg": "Request body is incorrect", "errors": _field_errors(exc)}, status_code=400
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"msg": str(exc.detail)}, status_code=exc.status_code)
