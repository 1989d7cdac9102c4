"""Podman for a node through its own ``podman system service``.

One HTTP request per operation (the ``docker`` backend speaks the service's Docker-compatible
API) instead of one podman process: much less CPU per run. The service is a child of the node
that dies with it, also when the node is killed; one left by an earlier node is stopped first.
Exit notices, log files, image transfer and builds still use podman directly.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vantage6_node.runtime import load_runtime
from vantage6_node.runtime.base import (
    ContainerRuntime,
    DelegatingRuntime,
    ExitNotifier,
    ImageBuilder,
    ImageTransfer,
    LogReader,
)
from vantage6_runtime_podman.service import PodmanService

if TYPE_CHECKING:  # the runtime module imports this one when a node opens podman
    from vantage6_runtime_podman.runtime import PodmanRuntime

#: the Docker-compatible API client; a backend registered in the same group
API_BACKEND = "docker"
#: options of the podman command line (for the service and the capabilities it gives)
_CLI_OPTIONS = ("podman", "containers_conf", "global_args", "env", "command_timeout")


class ServedPodman(DelegatingRuntime):
    """Containers through the service's API, the rest through the podman command line."""

    name = "podman"

    def __init__(self, api: ContainerRuntime, cli: PodmanRuntime, service: PodmanService) -> None:
        super().__init__(api)
        self.cli = cli
        self.service = service

    def ready(self, timeout: float = 30.0) -> None:
        self.service.wait_ready(timeout)
        self.inner.ready(timeout)

    def close(self) -> None:
        try:
            self.inner.close()
        finally:
            self.service.stop()

    def exit_notifier(self) -> ExitNotifier | None:
        return self.cli.exit_notifier()

    def log_reader(self) -> LogReader | None:
        return self.cli.log_reader()

    def image_transfer(self) -> ImageTransfer | None:
        return self.cli.image_transfer()

    def image_builder(self) -> ImageBuilder | None:
        return self.cli.image_builder()


def open_served(
    cli_class: type[PodmanRuntime], private_dir: Path, log_dir: Path, options: Mapping[str, Any]
) -> ServedPodman:
    """Start the service (returns before it answers: see :meth:`ServedPodman.ready`)."""
    cli_options = {k: v for k, v in options.items() if k in _CLI_OPTIONS}
    api_options = {k: v for k, v in options.items() if k not in _CLI_OPTIONS}
    cli = cli_class(**cli_options)
    private_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(private_dir, 0o700)
    service = PodmanService(
        private_dir / "podman.sock",
        podman=cli_options.get("podman"),
        log_path=log_dir / "podman-service.log",
        env=cli.environment,
        global_args=cli_options.get("global_args", ()),
        tied_to_parent=True,
    )
    service.spawn()
    try:
        api = load_runtime(API_BACKEND, base_url=service.url, **api_options)
    except Exception:
        service.stop()
        raise
    return ServedPodman(api, cli, service)
