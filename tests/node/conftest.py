"""Fixtures for node tests that need podman, the images and a live server."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.node.harness import BASE_IMAGE, DEMO_IMAGE, image_present, podman


def _podman_ready() -> str | None:
    if shutil.which("podman") is None:
        return "podman is not installed"
    for image in (BASE_IMAGE, DEMO_IMAGE):
        if not image_present(image):
            return f"image {image} missing (python -m containers.images build)"
    return None


@pytest.fixture(scope="session")
def podman_images() -> None:
    reason = _podman_ready()
    if reason:
        pytest.skip(reason)


def make_datasets(n: int, seed: int = 7) -> list[pd.DataFrame]:
    """``n`` different CSV data sets (different sizes and distributions)."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        rows = 40 + 17 * i
        out.append(
            pd.DataFrame(
                {
                    "age": rng.normal(40 + 5 * i, 8 + i, rows).round(1),
                    "weight": rng.normal(70 - 3 * i, 10, rows).round(2),
                    "visits": rng.integers(0, 10 + i, rows),
                }
            )
        )
    return out


TEST_IMAGE = "localhost/v6-nodetest:latest"
ALGO_DIR = Path(__file__).resolve().parent / "algo"


@pytest.fixture(scope="session")
def test_image(podman_images) -> str:
    """The test algorithm image (demo image + tests/node/algo/v6nodetest), built here."""
    proc = podman(
        "build",
        "--quiet",
        "-t",
        TEST_IMAGE,
        "-f",
        str(ALGO_DIR / "Containerfile"),
        str(ALGO_DIR),
        check=False,
    )
    if proc.returncode != 0:
        pytest.fail(f"building {TEST_IMAGE} failed: {proc.stderr}")
    return TEST_IMAGE
