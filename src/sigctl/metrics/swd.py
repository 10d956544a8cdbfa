"""Patch sliced Wasserstein distance (SWD) between a real image and one sample, at three levels.

Defined in DESIGN.md ("Quality measures") so numbers are comparable across tools: all stride-1
7x7 RGB patches as 147-vectors in (dy, dx, channel) order, pixels ``u8 / 127.5 - 1`` in float64,
levels full, /2 and /4 by k x k block means of the image cropped to a multiple of k (then
float32), 256 unit directions from ``numpy.random.default_rng(0)``, quantile matching per
direction, mean |difference| x 100. numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigctl.metrics.patches import PATCH_SIZE, level_image, patch_grid_size

NUM_DIRECTIONS = 256
DIRECTION_SEED = 0
LEVEL_FACTORS = (1, 2, 4)  # block sizes: full resolution, /2, /4
SCALE = 100.0  # reported x100, as the family's papers do
DIRECTION_BLOCK = 32  # directions projected at a time: bounds memory to pixels x 32 floats
KEEP_PIXELS = 512 * 512  # real images up to this size keep their sorted projections between samples


@dataclass(frozen=True)
class PatchSWD:
    """SWD x100 per level (full, /2, /4) and their mean; lower is closer.

    A level is None when an image is too small to hold a 7x7 patch at it (under 28 px on a side
    at /4); the mean is then None too, so means are only ever compared over all three levels.
    """

    levels: tuple[float | None, ...]

    @property
    def mean(self) -> float | None:
        return None if any(level is None for level in self.levels) else float(np.mean(self.levels))


def directions(dimension: int = PATCH_SIZE * PATCH_SIZE * 3) -> np.ndarray:
    """The 256 unit directions shared by every level and image (float32, NUM_DIRECTIONS x dimension)."""
    raw = np.random.default_rng(DIRECTION_SEED).standard_normal((NUM_DIRECTIONS, dimension))
    return (raw / np.linalg.norm(raw, axis=1, keepdims=True)).astype(np.float32)


def projections(image: np.ndarray, unit_directions: np.ndarray) -> np.ndarray:
    """Every stride-1 patch of ``image`` (hxwx3 float32) projected on each direction: (patches, D).

    Summed over the 49 patch offsets instead of building the patch matrix, so memory stays at
    one value per patch and direction whatever the image size.
    """
    height, width = patch_grid_size(image)
    # (dy, dx, channel) order: direction entry (dy * 7 + dx) * 3 + c weighs pixel (y + dy, x + dx, c).
    weights = unit_directions.reshape(len(unit_directions), PATCH_SIZE, PATCH_SIZE, 3)
    total = np.zeros((height, width, len(unit_directions)), np.float32)
    for dy in range(PATCH_SIZE):
        for dx in range(PATCH_SIZE):
            total += image[dy : dy + height, dx : dx + width] @ weights[:, dy, dx, :].T
    return total.reshape(-1, len(unit_directions))


def quantile_distance(first: np.ndarray, second: np.ndarray) -> float:
    """Mean |difference| of two sets of sorted projections, column by column (one per direction).

    Sets of different size are both read at t_j = (j + 0.5) / M, M the larger size, by linear
    interpolation between order statistics placed at (i + 0.5) / n: for equal sizes this is
    exactly the sorted values.
    """
    if len(first) != len(second):
        count = max(len(first), len(second))
        first, second = _read_quantiles(first, count), _read_quantiles(second, count)
    return float(np.abs(first.astype(np.float64) - second).mean())


def _read_quantiles(ordered: np.ndarray, count: int) -> np.ndarray:
    if len(ordered) == count:
        return ordered
    positions = (np.arange(len(ordered)) + 0.5) / len(ordered)
    targets = (np.arange(count) + 0.5) / count
    return np.stack([np.interp(targets, positions, column) for column in ordered.T], axis=1)


class SWDReference:
    """The real image's side of the SWD, made once and compared with any number of samples.

    Its sorted projections are kept when they are small (images up to ``keep_pixels``), which
    halves the work per sample; larger images are projected again for each sample instead
    (kept, a 1 Mpx image's projections would take 1.3 GB).
    """

    def __init__(self, real: np.ndarray, keep_pixels: int = KEEP_PIXELS):
        self.real = np.asarray(real)
        self.unit_directions = directions()
        self._kept: dict[int, list[np.ndarray] | None] = {}
        if self.real.shape[0] * self.real.shape[1] <= keep_pixels:
            self._kept = {factor: self._sorted_blocks(self.real, factor) for factor in LEVEL_FACTORS}

    def distance(self, sample: np.ndarray) -> PatchSWD:
        """Patch SWD x100 between the real image and one HxWx3 uint8 sample (sizes may differ)."""
        levels = []
        for factor in LEVEL_FACTORS:
            real_blocks = self._kept[factor] if factor in self._kept else self._sorted_blocks(self.real, factor)
            sample_blocks = self._sorted_blocks(sample, factor)
            if real_blocks is None or sample_blocks is None:
                levels.append(None)
                continue
            distances = [quantile_distance(a, b) for a, b in zip(real_blocks, sample_blocks)]
            # Blocks are equally wide, so the mean of block means is the mean over all directions.
            levels.append(SCALE * float(np.mean(distances)))
        return PatchSWD(tuple(levels))

    def _sorted_blocks(self, rgb: np.ndarray, factor: int) -> list[np.ndarray] | None:
        image = level_image(rgb, factor)
        if min(image.shape[:2]) < PATCH_SIZE:
            return None
        return [
            np.sort(projections(image, self.unit_directions[first : first + DIRECTION_BLOCK]), axis=0)
            for first in range(0, NUM_DIRECTIONS, DIRECTION_BLOCK)
        ]


def patch_swd(real: np.ndarray, sample: np.ndarray) -> PatchSWD:
    """Patch SWD x100 between two HxWx3 uint8 images (sizes may differ), per level and mean."""
    return SWDReference(real).distance(sample)
