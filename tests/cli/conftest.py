"""Fixtures for ``v6`` tests: private config/data folders and ways to run the command."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from vantage6_cli.main import cli

REPO = Path(__file__).resolve().parents[2]
V6 = str(Path(sys.executable).with_name("v6"))


@dataclass
class Env:
    """The XDG folders of one test (user and system scope)."""

    root: Path

    @property
    def vars(self) -> dict[str, str]:
        return {
            "XDG_CONFIG_HOME": str(self.root / "user-config"),
            "XDG_DATA_HOME": str(self.root / "user-data"),
            "XDG_CONFIG_DIRS": str(self.root / "system-config"),
            "XDG_DATA_DIRS": str(self.root / "system-data"),
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }

    @property
    def user_config(self) -> Path:
        return self.root / "user-config" / "vantage6-next"

    @property
    def user_data(self) -> Path:
        return self.root / "user-data" / "vantage6-next"

    @property
    def system_config(self) -> Path:
        return self.root / "system-config" / "vantage6-next"

    def environ(self, **extra: str) -> dict[str, str]:
        env = {**os.environ, **self.vars, **extra}
        env.setdefault("CONTAINERS_CONF", str(REPO / "containers" / "containers.conf"))
        for key in ("V6_SERVER_URL", "V6_USERNAME", "V6_PASSWORD", "V6_ROOT_PASSWORD"):
            if key not in extra:
                env.pop(key, None)
        return env


@pytest.fixture
def v6env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    env = Env(tmp_path / "home")
    for key, value in env.vars.items():
        monkeypatch.setenv(key, value)
    for key in ("V6_SERVER_URL", "V6_USERNAME", "V6_PASSWORD", "V6_ROOT_PASSWORD", "V6_API_KEY"):
        monkeypatch.delenv(key, raising=False)
    return env


@pytest.fixture
def v6(v6env: Env):
    """Run ``v6`` in-process through click's runner (stdout and stderr kept apart)."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
        return runner.invoke(cli, [str(a) for a in args], input=input, env=env)

    return run


def run_v6(env: Env, *args: str, timeout: float = 600, **extra: str) -> subprocess.CompletedProcess:
    """Run the installed ``v6`` script in a subprocess."""
    return subprocess.run(
        [V6, *[str(a) for a in args]],
        capture_output=True,
        text=True,
        env=env.environ(**extra),
        timeout=timeout,
    )
