"""The README's sandbox command installs only what the sandbox needs (issue 12): no test
extras, no shells for completion tests, no published vantage6 4.14 packages."""

from __future__ import annotations

import re
import subprocess

from tests.cli.conftest import REPO

SCRIPT = REPO / "scripts" / "sandbox.sh"


def _commands() -> list[str]:
    lines = [line.split("#", 1)[0].strip() for line in SCRIPT.read_text().splitlines()]
    return [line for line in lines if line]


def test_readme_points_at_the_script():
    assert "bash scripts/sandbox.sh" in (REPO / "README.md").read_text()


def test_sandbox_script_installs_only_the_sandbox():
    commands = "\n".join(_commands())
    assert "install.sh" not in commands  # the full (test) installation
    for needless in (
        "[test]",
        "zsh",
        "fish",
        "vantage6-client",
        "vantage6-algorithm-tools",
        "V6_PUBLISHED_VENV",
        "4.14",
    ):
        assert needless not in commands, needless
    installs = re.findall(r"pip install[^\n]*", commands)
    assert installs and all(re.search(r"-e \.$", line) for line in installs if "-e" in line)
    assert "containers/setup.sh" in commands and "v6 sandbox up" in commands
    checked = subprocess.run(["bash", "-n", str(SCRIPT)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
