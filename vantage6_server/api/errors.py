"""Uniform error bodies: ``{"msg": ...}`` and, for bad bodies, field errors."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from vantage6_common.service import errors as service_errors
from vantage6_common.service.errors import ApiError, bad_request, not_found
from vantage6_server.rbac.errors import PermissionDenied

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "bad_request",
    "document_errors",
    "forbidden",
    "install_error_handlers",
    "not_found",
    "unauthorized",
]


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


def forbidden(msg: str = "You lack the permission to do that!") -> ApiError:
    return ApiError(403, msg)


def unauthorized(msg: str = "Missing or invalid credentials") -> ApiError:
    return ApiError(401, msg)


def install_error_handlers(app: FastAPI) -> None:
    """The shared error answers; a missing permission is a 403."""
    service_errors.install_error_handlers(app, denied=PermissionDenied, denied_status=403)


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
