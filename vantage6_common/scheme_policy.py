"""Which payload format a collaboration uses: declared on the collaboration, never observed.

A collaboration carries ``encryption_scheme`` (a field vantage6 4.x clients ignore):

``vantage6`` (:data:`VANTAGE6`, the default)
    Every value is written in the vantage6 4.x format, which published vantage6 4.x clients and
    nodes read. Readers accept both formats (a collaboration may have been authenticated before).

``authenticated`` (:data:`AUTHENTICATED`)
    Every value is written in the authenticated format, and readers refuse the vantage6 format
    (no downgrade: a malleable payload is never decrypted). vantage6 4.x software cannot take
    part.

Writers choose the format from this setting alone, so what goes out never depends on which
nodes happened to have announced themselves. A collaboration without the field (a vantage6 4.x
server) is :data:`VANTAGE6`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vantage6_common import crypto

__all__ = [
    "FIELD",
    "VANTAGE6",
    "AUTHENTICATED",
    "SETTINGS",
    "DEFAULT_SETTING",
    "DowngradeRefused",
    "SchemePolicy",
]

#: Name of the collaboration field.
FIELD = "encryption_scheme"
VANTAGE6 = "vantage6"
AUTHENTICATED = "authenticated"
SETTINGS: tuple[str, ...] = (VANTAGE6, AUTHENTICATED)
#: What a collaboration is when nobody said otherwise: readable by vantage6 4.x.
DEFAULT_SETTING = VANTAGE6


class DowngradeRefused(crypto.DecryptionError):
    """A payload in the vantage6 format where the collaboration requires the authenticated one."""


@dataclass(frozen=True)
class SchemePolicy:
    """The write format and the accepted formats that follow from a collaboration's setting."""

    setting: str = DEFAULT_SETTING

    def __post_init__(self) -> None:
        if self.setting not in SETTINGS:
            raise ValueError(
                f"unknown {FIELD} {self.setting!r} (this version knows {', '.join(SETTINGS)})"
            )

    @classmethod
    def of_collaboration(cls, collaboration: Mapping[str, Any]) -> SchemePolicy:
        """The policy of a collaboration as the server serializes it (field absent: vantage6)."""
        value = collaboration.get(FIELD)
        return cls(DEFAULT_SETTING if value is None else str(value))

    @property
    def authenticated(self) -> bool:
        return self.setting == AUTHENTICATED

    @property
    def write_scheme(self) -> str:
        """The one payload format every writer in the collaboration uses."""
        return crypto.SCHEME_GCM if self.authenticated else crypto.SCHEME_V6

    @property
    def accepted(self) -> tuple[str, ...]:
        """Payload formats a reader in the collaboration decrypts."""
        return (crypto.SCHEME_GCM,) if self.authenticated else crypto.SUPPORTED_SCHEMES

    def strictest(self, require_authenticated: bool) -> SchemePolicy:
        """This policy, or the authenticated one when the local configuration demands it."""
        return SchemePolicy(AUTHENTICATED) if require_authenticated else self

    def check(self, payload: str) -> None:
        """Raise :class:`DowngradeRefused` for an encrypted payload in a format not accepted."""
        scheme = crypto.detect_scheme(payload)
        if scheme is not None and scheme not in self.accepted:
            raise DowngradeRefused(
                "refused a payload in the unauthenticated vantage6 format: this collaboration "
                f"requires the authenticated format ({FIELD} {self.setting!r})"
            )
