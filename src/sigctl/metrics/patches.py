"""Pixels as the patch metrics read them: [-1, 1] levels by block means, and patch matrices. numpy only."""

from __future__ import annotations

import numpy as np

PATCH_SIZE = 7


def level_image(rgb: np.ndarray, factor: int) -> np.ndarray:
    """HxWx3 uint8 -> float32 image in [-1, 1], reduced by ``factor`` x ``factor`` block means.

    Pixels become ``u8 / 127.5 - 1`` in float64, the image is cropped to a multiple of ``factor``,
    averaged in blocks, and only then rounded to float32 (DESIGN.md, "Quality measures").
    """
    pixels = np.asarray(rgb).astype(np.float64) / 127.5 - 1.0
    height, width = (pixels.shape[0] // factor) * factor, (pixels.shape[1] // factor) * factor
    blocks = pixels[:height, :width].reshape(height // factor, factor, width // factor, factor, 3).mean(axis=(1, 3))
    return blocks.astype(np.float32)


def patch_grid_size(image: np.ndarray, patch_size: int = PATCH_SIZE) -> tuple[int, int]:
    """(rows, columns) of stride-1 patch positions; ValueError when the image holds no patch."""
    rows, columns = image.shape[0] - patch_size + 1, image.shape[1] - patch_size + 1
    if rows < 1 or columns < 1:
        raise ValueError(f"an image of {image.shape[0]}x{image.shape[1]} px holds no {patch_size}x{patch_size} patch")
    return rows, columns


def patch_matrix(image: np.ndarray, patch_size: int = PATCH_SIZE) -> np.ndarray:
    """Every stride-1 patch of an hxwx3 image as a row, flattened in (dy, dx, channel) order."""
    patch_grid_size(image, patch_size)
    windows = np.lib.stride_tricks.sliding_window_view(image, (patch_size, patch_size), axis=(0, 1))  # h', w', 3, dy, dx
    rows, columns = windows.shape[:2]
    return np.ascontiguousarray(windows.transpose(0, 1, 3, 4, 2)).reshape(rows * columns, -1)
