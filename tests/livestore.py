"""Start a real algorithm store for tests: ``python -m vantage6_store`` on loopback."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import yaml

from tests.livestack import ServiceProcess, free_port, start_service


@dataclass
class LiveStore(ServiceProcess):
    """A running store subprocess with its own database and YAML config."""

    module: ClassVar[str] = "vantage6_store"
    database_uri: str
    workdir: Path
    config: dict
    port: int = field(default_factory=free_port)
    process: subprocess.Popen | None = None

    def options(self) -> list[str]:
        config_file = self.workdir / "store.yaml"
        config_file.write_text(yaml.safe_dump(self.config))
        return ["--config", str(config_file)]

    def restart(self, config: dict | None = None) -> LiveStore:
        """Stop, optionally swap the config (e.g. other policies), and start again."""
        self.stop()
        if config is not None:
            self.config = config
        return self.start()


def start_store(config: dict, backend: str = "sqlite") -> tuple[LiveStore, Callable[[], None]]:
    """Start a store on a fresh database; returns it and a cleanup function."""
    return start_service(LiveStore, backend, config=config)
