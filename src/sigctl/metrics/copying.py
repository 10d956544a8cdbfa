"""How much of a sample is a verbatim copy of the training image. numpy only.

Distances alone reward memorisation: a sample that pastes the training image back scores
perfectly. A copy leaves a trace no new image leaves: over a large connected region, one offset
maps the sample onto the training image pixel for pixel. The detector looks for such regions:

1. **Candidate offsets.** Sample patches on a sparse grid (every ``QUERY_STRIDE`` px) find their
   nearest training patch (exact L2 search over every stride-1 training patch, on block-mean
   reduced images when an image is larger than ``SEARCH_PIXELS``); the offsets between them vote,
   and offsets with at least ``MIN_VOTES`` votes become candidates (found on reduced images, each
   is refined to the full-resolution offset its voters' own patches match best, so a copy at an
   offset that is not a multiple of the reduction is not lost to it).
2. **Verification at full resolution.** For every stride-1 7x7 sample patch, the candidate offset
   whose training patch is closest (RMS over its 147 values). The patch is a *verbatim match* when
   that RMS is at most ``MAX_RMS`` (0.05 in [-1, 1] units: about 6 grey levels), and *detailed*
   when its own per-channel standard deviation is at least ``MIN_DETAIL`` (smooth areas such as a
   clear sky match many places equally well and say nothing about copying).
3. **Regions.** Detailed verbatim matches sharing one offset are joined with their 4 neighbours;
   regions of at least ``min_region`` positions (four patch areas, and at least 1 % of the
   sample's positions) are copied regions.

The copy share is the fraction of the sample's detailed patch positions inside copied regions:
1 for the training image itself or a shifted crop of it, about 0 for an image made anew (new
images match training patches by chance only in small pieces at scattered offsets). It is None
for a sample with no detail at all (a flat image).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from sigctl.metrics.patches import PATCH_SIZE, level_image, patch_grid_size, patch_matrix

SEARCH_PIXELS = 128 * 128  # larger images are searched at a k x k block mean, k the smallest that fits
QUERY_STRIDE = 4  # px between the sample patches that vote for offsets, at the search scale
MIN_VOTES = 2
MAX_CANDIDATES = 64  # offsets verified per sample, most voted first
REFINE_VOTERS = 16  # voters whose full-resolution patches choose among the offsets a reduced one stands for
MAX_RMS = 0.1
MIN_DETAIL = 0.05
SEARCH_CHUNK = 2048  # query patches compared at a time: bounds the distance matrix to chunk x training patches
_VALUES = PATCH_SIZE * PATCH_SIZE * 3


@dataclass(frozen=True)
class CopyFinding:
    """The copy share of one sample and where its copied regions are (over 7x7 patch positions)."""

    share: float  # fraction of the sample's patch positions inside copied regions, in [0, 1]
    copied: np.ndarray  # bool (rows, columns): the patch at (y, x) lies in a copied region
    detailed: np.ndarray  # bool (rows, columns): a verbatim match of a training patch with detail
    offsets: np.ndarray  # int (rows, columns, 2): training patch position minus sample patch position (best candidate)


def find_copies(real: np.ndarray, sample: np.ndarray) -> CopyFinding:
    """Copied regions of ``sample`` (HxWx3 uint8) taken verbatim from ``real`` (HxWx3 uint8)."""
    real_pixels, sample_pixels = level_image(real, 1), level_image(sample, 1)
    rows, columns = patch_grid_size(sample_pixels)
    real_detail = patch_detail(real_pixels)
    candidates = candidate_offsets(real, sample, patch_detail(sample_pixels) >= MIN_DETAIL)
    best_rms = np.full((rows, columns), np.inf, np.float32)
    best = np.full((rows, columns), -1, np.int64)
    for index, offset in enumerate(candidates):
        rms = shifted_patch_rms(real_pixels, sample_pixels, offset)
        better = rms < best_rms  # strict: on a tie the more voted candidate keeps the position
        best_rms[better], best[better] = rms[better], index
    offsets = np.zeros((rows, columns, 2), np.int64)
    if candidates:
        offsets[best >= 0] = np.asarray(candidates)[best[best >= 0]]
    verbatim = best_rms <= MAX_RMS
    # Detail is judged on the training patch a position copies, so noise added to a copy adds none.
    source_y = np.clip(np.arange(rows)[:, None] + offsets[..., 0], 0, real_detail.shape[0] - 1)
    source_x = np.clip(np.arange(columns)[None, :] + offsets[..., 1], 0, real_detail.shape[1] - 1)
    detailed = verbatim & (real_detail[source_y, source_x] >= MIN_DETAIL)
    copied = large_regions(best, verbatim, detailed, min_region(rows * columns))
    return CopyFinding(float(copied.mean()), copied, detailed, offsets)


def copy_share(real: np.ndarray, sample: np.ndarray) -> float:
    """Fraction of ``sample``'s patch positions inside regions copied verbatim from ``real``."""
    return find_copies(real, sample).share


def min_region(positions: int) -> int:
    """Smallest copied region: four patch areas, and at least 1 % of the sample's patch positions."""
    return max(4 * PATCH_SIZE * PATCH_SIZE, math.ceil(0.01 * positions))


def search_factor(*shapes: tuple[int, ...]) -> int:
    """The block size k that brings the larger image to at most SEARCH_PIXELS pixels."""
    pixels = max(shape[0] * shape[1] for shape in shapes)
    return max(1, math.ceil(math.sqrt(pixels / SEARCH_PIXELS)))


def candidate_offsets(real: np.ndarray, sample: np.ndarray, detailed: np.ndarray) -> list[tuple[int, int]]:
    """Full-resolution (dy, dx) offsets worth verifying, most voted first, at most MAX_CANDIDATES."""
    factor = search_factor(real.shape, sample.shape)
    real_level, sample_level = level_image(real, factor), level_image(sample, factor)
    if min(*real_level.shape[:2], *sample_level.shape[:2]) < PATCH_SIZE:
        return []
    rows, columns = patch_grid_size(sample_level)
    _, real_columns = patch_grid_size(real_level)
    query_y, query_x = np.meshgrid(np.arange(0, rows, QUERY_STRIDE), np.arange(0, columns, QUERY_STRIDE), indexing="ij")
    query_y, query_x = query_y.ravel(), query_x.ravel()
    # Full-resolution patch whose centre is the reduced patch's centre.
    centre = (PATCH_SIZE * factor - PATCH_SIZE) // 2
    full_y = np.minimum(query_y * factor + centre, detailed.shape[0] - 1)
    full_x = np.minimum(query_x * factor + centre, detailed.shape[1] - 1)
    # Only detailed queries vote: a smooth patch's nearest neighbour is one of many and says nothing.
    voting = detailed[full_y, full_x]
    query_y, query_x, full_y, full_x = query_y[voting], query_x[voting], full_y[voting], full_x[voting]
    if len(query_y) == 0:
        return []
    nearest, _ = nearest_patches(patch_matrix(sample_level)[query_y * columns + query_x], patch_matrix(real_level))
    near_y, near_x = np.divmod(nearest, real_columns)
    offsets = np.stack([near_y - query_y, near_x - query_x], axis=1)
    voted, inverse, votes = np.unique(offsets, axis=0, return_inverse=True, return_counts=True)
    candidates: list[tuple[int, int]] = []
    for index in np.argsort(-votes, kind="stable")[:MAX_CANDIDATES]:
        if votes[index] < MIN_VOTES:
            break
        voters = np.flatnonzero(inverse.ravel() == index)
        refined = refine_offset(real, sample, full_y[voters], full_x[voters], tuple(voted[index] * factor), factor)
        if refined is not None and refined not in candidates:
            candidates.append(refined)
    return candidates


def refine_offset(real: np.ndarray, sample: np.ndarray, ys: np.ndarray, xs: np.ndarray, coarse: tuple[int, int], factor: int) -> tuple[int, int] | None:
    """The full-resolution offset near ``coarse`` (within factor - 1 px) that best matches the voters' patches.

    A reduced offset stands for k x k full-resolution ones, and a copy at an offset that is not a
    multiple of k reduces differently from its source; the voters' own patches at full resolution
    decide which offset it is.
    """
    if factor == 1:
        return int(coarse[0]), int(coarse[1])
    ys, xs = ys[:REFINE_VOTERS], xs[:REFINE_VOTERS]
    spread = np.arange(-(factor - 1), factor)
    shift_y, shift_x = (grid.ravel() for grid in np.meshgrid(spread + coarse[0], spread + coarse[1], indexing="ij"))
    real_windows = np.lib.stride_tricks.sliding_window_view(level_image(real, 1), (PATCH_SIZE, PATCH_SIZE), axis=(0, 1))
    sample_windows = np.lib.stride_tricks.sliding_window_view(level_image(sample, 1), (PATCH_SIZE, PATCH_SIZE), axis=(0, 1))
    ys, xs = np.minimum(ys, sample_windows.shape[0] - 1), np.minimum(xs, sample_windows.shape[1] - 1)
    target_y, target_x = ys[:, None] + shift_y[None, :], xs[:, None] + shift_x[None, :]
    inside = (target_y >= 0) & (target_y < real_windows.shape[0]) & (target_x >= 0) & (target_x < real_windows.shape[1])
    targets = real_windows[np.clip(target_y, 0, real_windows.shape[0] - 1), np.clip(target_x, 0, real_windows.shape[1] - 1)]
    errors = ((targets - sample_windows[ys, xs][:, None]) ** 2).mean(axis=(2, 3, 4))
    errors = np.where(inside, errors, np.inf).mean(axis=0)  # an offset that leaves the image for any voter is out
    if not np.isfinite(errors.min()):
        return None
    best = int(np.argmin(errors))
    return int(shift_y[best]), int(shift_x[best])


def nearest_patches(queries: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index of each query row's nearest candidate row (L2) and the squared distance to it."""
    candidate_norms = np.einsum("ij,ij->i", candidates, candidates)
    indices = np.empty(len(queries), np.int64)
    squared = np.empty(len(queries), np.float32)
    for first in range(0, len(queries), SEARCH_CHUNK):
        chunk = queries[first : first + SEARCH_CHUNK]
        # |q - c|^2 without |q|^2, which does not change the argmin; added back for the distance.
        partial = candidate_norms[None, :] - 2.0 * (chunk @ candidates.T)
        best = partial.argmin(axis=1)
        indices[first : first + len(chunk)] = best
        squared[first : first + len(chunk)] = partial[np.arange(len(chunk)), best] + np.einsum("ij,ij->i", chunk, chunk)
    return indices, squared


def box_sums(values: np.ndarray, size: int = PATCH_SIZE) -> np.ndarray:
    """Sums over every size x size window of an (h, w) array (integral image): (h - size + 1, w - size + 1)."""
    integral = np.zeros((values.shape[0] + 1, values.shape[1] + 1), np.float64)
    integral[1:, 1:] = values.cumsum(axis=0).cumsum(axis=1)
    return integral[size:, size:] - integral[:-size, size:] - integral[size:, :-size] + integral[:-size, :-size]


def patch_detail(image: np.ndarray) -> np.ndarray:
    """Per 7x7 patch of an hxwx3 image: the standard deviation within each channel, averaged over channels."""
    area = PATCH_SIZE * PATCH_SIZE
    variances = [box_sums(image[..., c].astype(np.float64) ** 2) / area - (box_sums(image[..., c]) / area) ** 2 for c in range(3)]
    return np.sqrt(np.maximum(np.mean(variances, axis=0), 0.0)).astype(np.float32)


def shifted_patch_rms(real: np.ndarray, sample: np.ndarray, offset: tuple[int, int]) -> np.ndarray:
    """RMS difference of each sample patch at (y, x) with the training patch at (y + dy, x + dx); inf where that falls outside."""
    rows, columns = patch_grid_size(sample)
    real_rows, real_columns = patch_grid_size(real)
    dy, dx = offset
    top, bottom = max(0, -dy), min(rows, real_rows - dy)
    left, right = max(0, -dx), min(columns, real_columns - dx)
    rms = np.full((rows, columns), np.inf, np.float32)
    if top >= bottom or left >= right:
        return rms
    extent = PATCH_SIZE - 1
    sample_part = sample[top : bottom + extent, left : right + extent]
    real_part = real[top + dy : bottom + dy + extent, left + dx : right + dx + extent]
    squared = ((sample_part - real_part) ** 2).sum(axis=-1)
    rms[top:bottom, left:right] = np.sqrt(np.maximum(box_sums(squared), 0.0) / _VALUES)
    return rms


def large_regions(labels: np.ndarray, member: np.ndarray, counted: np.ndarray, min_count: int) -> np.ndarray:
    """Member positions in 4-connected regions of equal ``labels`` holding at least ``min_count`` counted positions."""
    rows, columns = member.shape
    parent = np.arange(rows * columns)

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = parent[parent[node]]  # path halving keeps the trees shallow
            node = parent[node]
        return node

    horizontal = np.zeros((rows, columns), bool)
    horizontal[:, :-1] = (labels[:, 1:] == labels[:, :-1]) & member[:, 1:] & member[:, :-1]
    vertical = np.zeros((rows, columns), bool)
    vertical[:-1] = (labels[1:] == labels[:-1]) & member[1:] & member[:-1]
    for joined, step in ((horizontal, 1), (vertical, columns)):
        for node in np.flatnonzero(joined).tolist():
            a, b = root(node), root(node + step)
            parent[max(a, b)] = min(a, b)
    roots = np.array([root(node) for node in range(rows * columns)])
    counts = np.bincount(roots[counted.ravel()], minlength=rows * columns)
    return member & (counts[roots] >= min_count).reshape(rows, columns)
