"""Fixtures for the algorithm-tools tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.algorithm.helpers import vantage6_token


@pytest.fixture
def token_file(tmp_path) -> Path:
    path = tmp_path / "token"
    path.write_text(vantage6_token())
    return path
