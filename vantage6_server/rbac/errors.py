"""The domain error of the authorization policy; the API answers it with 403."""

from __future__ import annotations

DEFAULT_MESSAGE = "You lack the permission to do that!"


class PermissionDenied(Exception):
    """An authenticated principal asked for something the policy does not allow."""

    def __init__(self, msg: str = DEFAULT_MESSAGE) -> None:
        super().__init__(msg)
        self.msg = msg
