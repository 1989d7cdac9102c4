"""The HTTP proxy algorithm containers talk to (one unix socket per run)."""

from vantage6_node.proxy.app import ALLOWED, NodeProxy, RunContext, StatusBoard, allowed

__all__ = ["ALLOWED", "NodeProxy", "RunContext", "StatusBoard", "allowed"]
