"""A run's result as it goes to the server: encrypted for the task's initiating organization
(base64 in an unencrypted collaboration)."""

from __future__ import annotations

from vantage6_node.org_keys import MissingPublicKey, OrgKeys
from vantage6_node.runs.folder import RunState


class ResultEncoder:
    """Turns a run's output into the ``result`` string of its final report."""

    def __init__(self, org_keys: OrgKeys) -> None:
        self.org_keys = org_keys

    async def encode(self, state: RunState, output: bytes) -> str:
        if state.init_org_id is None and self.org_keys.encryption.encrypted:
            raise RuntimeError("the task has no initiating organization to encrypt for")
        return await self.org_keys.encrypt_for(state.init_org_id, output, retry_for=None)

    async def blob_key(self, state: RunState) -> str | None:
        """The public key a blob result is encrypted with (None: unencrypted collaboration)."""
        if not self.org_keys.encryption.encrypted:
            return None
        self.org_keys.encryption.check_blob_format()
        key = await self.org_keys.public_key(state.init_org_id or 0, retry_for=None)
        if not key or state.init_org_id is None:
            raise MissingPublicKey(
                f"organization {state.init_org_id} has no public key; cannot encrypt"
            )
        return key
