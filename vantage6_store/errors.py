"""Error answers of the store: the shared ``{"msg": ...}`` bodies; a missing permission is a 401."""

from __future__ import annotations

from fastapi import FastAPI

from vantage6_common.service import errors as service_errors
from vantage6_common.service.errors import ApiError, bad_request, not_found
from vantage6_store.rbac import PermissionDenied

__all__ = ["ApiError", "bad_request", "install_error_handlers", "not_found"]


def install_error_handlers(app: FastAPI) -> None:
    # vantage6's store 4.x answers a missing permission with 401
    service_errors.install_error_handlers(app, denied=PermissionDenied, denied_status=401)
