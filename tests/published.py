"""Where the published vantage6 4.14 packages live (their own venvs, made by scripts/install.sh).

Without them a developer's run skips the tests that need them; under CI (``CI`` set) it is an
error, so a broken install cannot pass as skipped tests.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import NoReturn

import pytest

PUBLISHED_VENV = Path(os.environ.get("V6_PUBLISHED_VENV", "/opt/v6client"))
# vantage6-node 4.14 (Python 3.10)
PUBLISHED_NODE_VENV = Path(
    os.environ.get(
        "V6_PUBLISHED_NODE_VENV", str(Path.home() / ".cache" / "vantage6-next" / "v6node")
    )
)

# vantage6-server 4.14 with uWSGI (Python 3.10), the benchmark's reference server
PUBLISHED_SERVER_VENV = Path(
    os.environ.get(
        "V6_PUBLISHED_SERVER_VENV", str(Path.home() / ".cache" / "vantage6-next" / "v6ref")
    )
)


def missing(message: str) -> NoReturn:
    """Skip the test for a missing install; fail it under CI."""
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def _require(executable: Path, what: str, variable: str) -> Path:
    if not executable.exists():
        missing(f"{what} not found at {executable.parent.parent} (set {variable})")
    return executable


def published_python() -> Path:
    """The client venv's python, or skip (fail under CI) when it is missing."""
    return _require(
        PUBLISHED_VENV / "bin" / "python", "published vantage6 venv", "V6_PUBLISHED_VENV"
    )


def published_node_python() -> Path:
    """The published node venv's python, or skip (fail under CI) when it is missing."""
    return _require(
        PUBLISHED_NODE_VENV / "bin" / "python",
        "published vantage6-node venv",
        "V6_PUBLISHED_NODE_VENV",
    )


def published_server_venv() -> Path:
    """The published server venv (with uwsgi), or skip (fail under CI) when it is missing."""
    _require(
        PUBLISHED_SERVER_VENV / "bin" / "uwsgi",
        "published vantage6-server venv",
        "V6_PUBLISHED_SERVER_VENV",
    )
    return PUBLISHED_SERVER_VENV


def run_published_scenario(script: Path, args: list[str], timeout: float) -> list[dict]:
    """Run ``script`` in the published client's venv; returns the JSON steps it printed.

    Fails unless the script succeeded, no step failed and the last step says it is done.
    """
    result = subprocess.run(
        [str(published_python()), str(script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    steps = [json.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    failed = [s for s in steps if not s.get("ok", True)]
    assert result.returncode == 0 and not failed, (
        f"failed: {failed}\nstdout:{result.stdout[-4000:]}\nstderr:{result.stderr[-4000:]}"
    )
    assert steps[-1] == {"done": True}
    return steps
