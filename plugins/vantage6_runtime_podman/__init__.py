"""Podman backend: the ``podman`` command line, or for a node a private API service."""

from vantage6_runtime_podman.runtime import PodmanRuntime

__all__ = ["PodmanRuntime"]
