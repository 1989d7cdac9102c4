"""Exceptions raised by the Python client.

Every error the server answers with becomes an :class:`ApiError` subclass chosen by the HTTP
status code; the server's ``msg`` (and validation ``errors``, if any) travel with it so that the
caller sees what the server said rather than a bare status code.
"""

from __future__ import annotations

from typing import Any


class V6ClientError(Exception):
    """Base class of everything this package raises on purpose."""


class ServerConnectionError(V6ClientError):
    """The server could not be reached (connection refused, DNS failure, timeout)."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"cannot reach the server at {url}: {reason}")


class NotAuthenticatedError(V6ClientError):
    """A call that needs a login was made before :meth:`Client.authenticate`."""


class ApiError(V6ClientError):
    """The server answered with an error status.

    Attributes: ``status`` (HTTP status code), ``msg`` (the server's message), ``errors``
    (field errors of a validation failure, or ``None``), ``method`` and ``endpoint`` of the call
    and ``body`` (the decoded answer, or its text when it was not JSON).
    """

    def __init__(
        self,
        status: int,
        msg: str,
        *,
        method: str = "",
        endpoint: str = "",
        errors: Any = None,
        body: Any = None,
    ) -> None:
        self.status = status
        self.msg = msg
        self.method = method.upper()
        self.endpoint = endpoint
        self.errors = errors
        self.body = body
        text = f"{status}: {msg}" if msg else f"{status}"
        if errors:
            text += f" ({_format_errors(errors)})"
        if endpoint:
            text += f" [{self.method} {endpoint}]"
        super().__init__(text)


class BadRequestError(ApiError):
    """400/422: the request body or parameters were rejected."""


class AuthenticationError(ApiError):
    """401: missing, wrong or expired credentials (vantage6 4.x also uses it for denials)."""


class PermissionDeniedError(ApiError):
    """403: authenticated, but not allowed to do this."""


class NotFoundError(ApiError):
    """404: the resource (or the endpoint) does not exist."""


class ConflictError(ApiError):
    """409: the request conflicts with the current state (e.g. a duplicate name)."""


class ServerError(ApiError):
    """5xx: the server failed."""


class TwoFactorSetupRequired(V6ClientError):
    """The login is correct but the user must first set up two-factor authentication.

    ``qr_uri`` is the ``otpauth://`` URI to scan into an authenticator app and ``otp_secret``
    the same secret in text form. Log in again with ``mfa_code`` afterwards.
    """

    def __init__(self, qr_uri: str, otp_secret: str, msg: str = "") -> None:
        self.qr_uri = qr_uri
        self.otp_secret = otp_secret
        self.msg = msg
        super().__init__(msg or "two-factor authentication must be set up before logging in")


class EncryptionError(V6ClientError):
    """Encryption was needed but is not set up, or data could not be (de)crypted."""


class WaitTimeoutError(V6ClientError, TimeoutError):
    """A task did not finish within the given time."""

    def __init__(self, task_id: int, timeout: float, status: str | None) -> None:
        self.task_id = task_id
        self.timeout = timeout
        self.status = status
        super().__init__(
            f"task {task_id} did not finish within {timeout:g} s (last status: {status})"
        )


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: BadRequestError,
}


def error_for_status(status: int) -> type[ApiError]:
    """The exception class that represents an answer with this status code."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return ApiError


def _format_errors(errors: Any) -> str:
    if isinstance(errors, dict):
        parts = []
        for key, value in errors.items():
            if isinstance(value, list | tuple):
                value = "; ".join(str(v) for v in value)
            parts.append(f"{key}: {value}")
        return ", ".join(parts)
    if isinstance(errors, list | tuple):
        return "; ".join(str(e) for e in errors)
    return str(errors)
