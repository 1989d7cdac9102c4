"""Who this node is on the server (and which installation, for its containers' labels)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class NodeIdentity:
    node_id: int
    organization_id: int
    collaboration_id: int
    instance_id: str
    name: str = ""
