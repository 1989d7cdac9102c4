"""Error answers of the store: ``{"msg": ...}`` (plus field errors for bad bodies)."""

from __future__ import annotations

from collections import defaultdict

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

from vantage6_store.rbac import PermissionDenied


class ApiError(Exception):
    """Raised by endpoints to answer with a status and a message."""

    def __init__(self, status: int, msg: str, errors: dict | None = None) -> None:
        super().__init__(msg)
        self.status = status
        self.msg = msg
        self.errors = errors


def not_found(what: str, id_: int) -> ApiError:
    return ApiError(404, f"{what} id={id_} not found")


def bad_request(msg: str) -> ApiError:
    return ApiError(400, msg)


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
        # vantage6's store 4.x answers a missing permission with 401
        return JSONResponse({"msg": exc.msg}, status_code=401)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        in_body = any((err.get("loc") or ("body",))[0] == "body" for err in exc.errors())
        msg = "Request body is incorrect" if in_body else "Request parameters are incorrect"
        return JSONResponse({"msg": msg, "errors": _field_errors(exc)}, status_code=400)

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_request: Request, _exc: Exception) -> JSONResponse:
        return JSONResponse(
            {"msg": "A value in the request is out of range or cannot be stored"},
            status_code=400,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"msg": str(exc.detail)}, status_code=exc.status_code)
