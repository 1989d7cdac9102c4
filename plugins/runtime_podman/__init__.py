"""Podman backend driving the ``podman`` command line (no daemon needed)."""

from plugins.runtime_podman.runtime import PodmanRuntime

__all__ = ["PodmanRuntime"]
