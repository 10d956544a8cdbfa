"""Pixel conventions: uint8 images for people, [-1, 1] floats for networks, grids. numpy only."""

from __future__ import annotations

import math

import numpy as np


def to_network(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 uint8 -> 3xHxW float32 in [-1, 1]."""
    return (rgb.astype(np.float32).transpose(2, 0, 1) / 127.5 - 1.0).astype(np.float32)


def to_uint8(chw: np.ndarray) -> np.ndarray:
    """3xHxW float in [-1, 1] (or NxCxHxW) -> HxWx3 (or NxHxWx3) uint8, rounding to nearest."""
    scaled = np.clip((np.asarray(chw, dtype=np.float32) + 1.0) * 127.5, 0.0, 255.0)
    return np.round(scaled).astype(np.uint8).swapaxes(-3, -2).swapaxes(-2, -1)


def make_grid(images: list[np.ndarray], columns: int | None = None, gap: int = 4, min_cell: int = 128) -> np.ndarray:
    """Tile HxWx3 uint8 images (sizes may differ) on a white sheet, row by row.

    Small images are enlarged by an integer factor (nearest neighbour, so pixels stay honest)
    until the largest is at least ``min_cell`` px on its longer side, so a grid is readable.
    """
    if not images:
        raise ValueError("make_grid needs at least one image")
    zoom = max(1, min_cell // max(max(image.shape[:2]) for image in images))
    images = [image.repeat(zoom, axis=0).repeat(zoom, axis=1) for image in images]
    columns = columns or math.ceil(math.sqrt(len(images)))
    rows = math.ceil(len(images) / columns)
    cell_h = max(image.shape[0] for image in images)
    cell_w = max(image.shape[1] for image in images)
    sheet = np.full((rows * cell_h + (rows + 1) * gap, columns * cell_w + (columns + 1) * gap, 3), 255, np.uint8)
    for index, image in enumerate(images):
        top = gap + (index // columns) * (cell_h + gap)
        left = gap + (index % columns) * (cell_w + gap)
        sheet[top : top + image.shape[0], left : left + image.shape[1]] = image
    return sheet


def _resize_weights(source: int, target: int) -> np.ndarray:
    """target x source matrix of a cubic (Keys, a = -0.5) filter, widened when shrinking (antialias)."""
    scale = source / target
    support = max(scale, 1.0)  # the kernel spans this many source pixels per unit
    centres = (np.arange(target) + 0.5) * scale - 0.5
    offsets = np.arange(source)[None, :] - centres[:, None]
    x = np.abs(offsets / support)
    a = -0.5
    weights = np.where(
        x <= 1, (a + 2) * x**3 - (a + 3) * x**2 + 1, np.where(x < 2, a * x**3 - 5 * a * x**2 + 8 * a * x - 4 * a, 0.0)
    )
    return weights / weights.sum(axis=1, keepdims=True)


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize CxHxW (or NxCxHxW) float32 with an antialiased cubic filter; a copy at equal size.

    Written as two matrix products so it needs numpy alone: the serving runtime uses it to bring
    injected images to each scale, training uses it to build the real pyramid.
    """
    if image.shape[-2:] == (height, width):
        return image.astype(np.float32, copy=True)
    rows = _resize_weights(image.shape[-2], height)
    cols = _resize_weights(image.shape[-1], width)
    return (rows @ image.astype(np.float64) @ cols.T).astype(np.float32)


def resize_uint8(rgb: np.ndarray, height: int, width: int) -> np.ndarray:
    """HxWx3 uint8 -> resized HxWx3 uint8 (the identical array at equal size)."""
    if rgb.shape[:2] == (height, width):
        return rgb.copy()
    return to_uint8(resize(to_network(rgb), height, width))
