"""Docker Engine API backend (docker SDK): a Docker daemon or ``podman system service``."""

from vantage6_runtime_docker.runtime import DockerRuntime

__all__ = ["DockerRuntime"]
