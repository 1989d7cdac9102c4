"""What the parts of the client (encryption, resources) need from it: who is logged in and the
transport. They depend on this protocol, not on :class:`~vantage6_client.client.Client`, so
the client's modules import each other in one direction only."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from vantage6_client.transport import Transport


@dataclass
class WhoAmI:
    """Who is logged in."""

    id: int
    username: str
    name: str
    organization_id: int | None
    organization_name: str | None
    type_: str = "user"

    @property
    def id_(self) -> int:  # the vantage6 client's spelling
        return self.id

    def __str__(self) -> str:
        org = f"{self.organization_name} (id={self.organization_id})"
        return f"{self.username} (id={self.id}) of {org}"


class ClientSession(Protocol):
    """A logged-in (or not yet logged-in) client."""

    transport: Transport
    whoami: WhoAmI | None
    collaboration_id: int | None

    def require_login(self) -> WhoAmI:
        """Who is logged in; raises NotAuthenticatedError when nobody is."""
        ...
