"""Shared fixtures: real bundled images and tiny pyramids trained once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigctl.config import load_settings
from sigctl.training.loop import train

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "examples" / "images"
BALLOONS = IMAGES / "train" / "balloons.png"


@pytest.fixture(scope="session")
def tiny_settings():
    return load_settings("tiny")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_settings) -> Path:
    """A finished artifact trained with the tiny preset on balloons.png (a few seconds)."""
    run_dir = tmp_path_factory.mktemp("runs") / "balloons"
    train(BALLOONS, run_dir, tiny_settings)
    return run_dir
