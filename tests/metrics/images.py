"""Bundled images and constructed cases the metric tests share."""

from __future__ import annotations

import numpy as np

from sigctl.core.images import load_rgb

from ..conftest import IMAGES


def bundled(name: str) -> np.ndarray:
    return load_rgb(IMAGES / "train" / f"{name}.png")


def block_corners(real: np.ndarray, seed: int = 1) -> list[tuple[int, int]]:
    """Random top-left corners in ``real`` of four half-height, half-width crops."""
    rng = np.random.default_rng(seed)
    height, width = real.shape[0] // 2, real.shape[1] // 2
    return [(int(rng.integers(0, real.shape[0] - height)), int(rng.integers(0, real.shape[1] - width))) for _ in range(4)]


def shifted_blocks(real: np.ndarray, seed: int = 1) -> np.ndarray:
    """A sample made of 2 x 2 blocks, each a crop of ``real`` at one of ``block_corners(real, seed)``."""
    height, width = real.shape[0] // 2, real.shape[1] // 2
    sample = np.zeros((2 * height, 2 * width, 3), np.uint8)
    for index, (top, left) in enumerate(block_corners(real, seed)):
        row, column = divmod(index, 2)
        sample[row * height : (row + 1) * height, column * width : (column + 1) * width] = real[top : top + height, left : left + width]
    return sample


def uniform_noise(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
