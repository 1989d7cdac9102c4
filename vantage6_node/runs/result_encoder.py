"""A run's result as it goes to the server: encrypted for the task's initiating organization
(base64 in an unencrypted collaboration)."""

from __future__ import annotations

from vantage6_node.org_keys import OrgKeys
from vantage6_node.runs.folder import RunState


class ResultEncoder:
    """Turns a run's output into the ``result`` string of its final report."""

    def __init__(self, org_keys: OrgKeys) -> None:
        self.org_keys = org_keys

    async def encode(self, state: RunState, output: bytes) -> str:
        if state.init_org_id is None and self.org_keys.encryption.encrypted:
            raise RuntimeError("the task has no initiating organization to encrypt for")
        return await self.org_keys.encrypt_for(state.init_org_id, output, retry_for=None)
