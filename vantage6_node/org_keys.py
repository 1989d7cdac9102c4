"""The node's one source of organizations' public keys and of the collaboration's format.

Results of runs (for the task's initiating organization) and subtask inputs (for every
organization of the subtask, via the proxy) are encrypted with the receiving organization's
public key as the server holds it. Keys are kept for :data:`MAX_AGE` seconds, so a key an
organization replaces is picked up within that time, and an organization without a key (or
one not looked up yet) is asked again right before giving up.

The format written (``encryption_scheme`` of the collaboration, see
:mod:`vantage6_node.encryption`) is read at start and again at every catch-up; a server
without the field (vantage6 4.x) means the vantage6 format.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from vantage6_common.scheme_policy import SchemePolicy
from vantage6_node.encryption import EncryptionMismatch, NodeEncryption
from vantage6_node.server_api import ServerAPI, ServerError, ServerUnavailable

log = logging.getLogger(__name__)

#: seconds an organization's public key is used before the server is asked again
MAX_AGE = 60.0


class UnknownScheme(ValueError):
    """The collaboration declares an ``encryption_scheme`` this version does not know."""


class MissingPublicKey(EncryptionMismatch):
    """The receiving organization has no public key on the server."""


class OrgKeys:
    """Public keys of the collaboration's organizations and the format to write for them."""

    def __init__(
        self,
        api: ServerAPI,
        encryption: NodeEncryption,
        collaboration_id: int,
        organization_id: int,
        max_age: float = MAX_AGE,
    ) -> None:
        self.api = api
        self.encryption = encryption
        self.collaboration_id = collaboration_id
        self.organization_id = organization_id
        self.max_age = max_age
        self._keys: dict[int, tuple[float, str | None]] = {}

    # the collaboration's settings --------------------------------------------------------------
    async def start(self) -> None:
        """Apply the collaboration's settings; upload our public key when the server's differs.

        :class:`UnknownScheme` for a setting this version does not know.
        """
        collab = await self.api.get_collaboration(self.collaboration_id)
        self.encryption.setup(bool(collab.get("encrypted")), self._policy_of(collab))
        if not self.encryption.config.enabled:
            return
        mine = await asyncio.to_thread(lambda: self.encryption.public_key_b64)
        org = await self.api.get_organization(self.organization_id)
        if not self.encryption.public_key_matches(org.get("public_key")):
            log.info("uploading this organization's public key to the server")
            await self.api.patch_organization(self.organization_id, {"public_key": mine})
        self._keys[self.organization_id] = (time.monotonic(), mine)

    async def refresh_scheme(self) -> None:
        """Follow a change of the collaboration's ``encryption_scheme`` (at each catch-up)."""
        try:
            collab = await self.api.get_collaboration(self.collaboration_id)
            self.encryption.set_policy(self._policy_of(collab))
        except (ServerError, ServerUnavailable) as exc:
            log.info("collaboration settings not refreshed: %s", exc)
        except UnknownScheme as exc:  # a setting this version does not know: keep the last one
            log.error("%s", exc)

    def _policy_of(self, collab: dict[str, Any]) -> SchemePolicy:
        try:
            return SchemePolicy.of_collaboration(collab)
        except ValueError as exc:
            raise UnknownScheme(f"collaboration {self.collaboration_id}: {exc}") from exc

    # organizations' keys -----------------------------------------------------------------------
    async def public_key(self, org_id: int, *, retry_for: float | None = None) -> str | None:
        """The organization's public key (None or ``""``: it has none, even after asking again)."""
        key = await self._lookup(org_id, self.max_age, retry_for)
        if not key:  # maybe uploaded since we looked
            key = await self._lookup(org_id, 0.0, retry_for)
        return key

    async def _lookup(self, org_id: int, max_age: float, retry_for: float | None) -> str | None:
        cached = self._keys.get(org_id)
        if cached is not None and time.monotonic() - cached[0] < max_age:
            return cached[1]
        org = await self.api.get_organization(org_id, retry_for=retry_for)
        key = org.get("public_key") if isinstance(org, dict) else None
        self._keys[org_id] = (time.monotonic(), key)
        return key

    def forget(self) -> None:
        """Ask the server again for every key."""
        self._keys.clear()

    async def encrypt_for(
        self, org_id: int | None, data: bytes, *, retry_for: float | None = None
    ) -> str:
        """``data`` for the organization, in the collaboration's format (unencrypted
        collaboration: base64); :class:`MissingPublicKey` when it has no key."""
        if not self.encryption.encrypted:
            return self.encryption.encrypt_for(data, None)
        if org_id is None:
            raise MissingPublicKey("no organization to encrypt for")
        key = await self.public_key(org_id, retry_for=retry_for)
        if not key:
            raise MissingPublicKey(f"organization {org_id} has no public key; cannot encrypt")
        return await asyncio.to_thread(self.encryption.encrypt_for, data, key)
