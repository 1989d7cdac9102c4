"""Where the published vantage6 4.14 packages live (their own venv, made by scripts/install.sh).

Without it a developer's run skips the tests that need it; under CI (``CI`` set) it is an
error, so a broken install cannot pass as skipped tests.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

PUBLISHED_VENV = Path(os.environ.get("V6_PUBLISHED_VENV", "/opt/v6client"))


def published_python() -> Path:
    """The venv's python, or skip (fail under CI) when it is missing."""
    python = PUBLISHED_VENV / "bin" / "python"
    if not python.exists():
        message = f"published vantage6 venv not found at {PUBLISHED_VENV} (set V6_PUBLISHED_VENV)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return python
