"""Failed-password bookkeeping shared by every check of a user's password.

Logins and ``PATCH /password/change`` count toward one lockout: ``max_failed_attempts``
failures within ``inactivation_minutes`` lock the account for that long. Both answer with
``FAILED`` whether the password was wrong or the account is locked.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from vantage6_server.db import models as m

if TYPE_CHECKING:
    from vantage6_server.settings import ServerSettings

FAILED = "Invalid username or password, or the account is temporarily locked"


def _window(settings: ServerSettings) -> dt.timedelta:
    return dt.timedelta(minutes=settings.inactivation_minutes)


def is_locked(user: m.User, settings: ServerSettings, now: dt.datetime) -> bool:
    return (
        user.failed_login_attempts >= settings.max_failed_attempts
        and user.last_login_attempt is not None
        and now - user.last_login_attempt < _window(settings)
    )


def record_failure(user: m.User, settings: ServerSettings, now: dt.datetime) -> None:
    """Count one failure (the count restarts after a quiet window); the caller commits."""
    recent = user.last_login_attempt is not None and now - user.last_login_attempt < _window(
        settings
    )
    user.failed_login_attempts = (user.failed_login_attempts if recent else 0) + 1
    user.last_login_attempt = now


def record_success(user: m.User, now: dt.datetime) -> None:
    user.failed_login_attempts = 0
    user.last_login_attempt = now
