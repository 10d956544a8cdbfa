"""The Frechet distance between Gaussians fitted to two sets of feature vectors. numpy only."""

from __future__ import annotations

import numpy as np


def frechet_distance(first: np.ndarray, second: np.ndarray) -> float:
    """|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^(1/2)) for (n, d) observations of each set.

    Tr((S1 S2)^(1/2)) is computed as the sum of square roots of the eigenvalues of the symmetric
    S1^(1/2) S2 S1^(1/2), which has the same spectrum; that needs only ``eigh`` (no scipy) and
    stays real for the singular covariances that few observations give.
    """
    first, second = np.asarray(first, np.float64), np.asarray(second, np.float64)
    mean_gap = first.mean(axis=0) - second.mean(axis=0)
    cov_first, cov_second = np.atleast_2d(np.cov(first, rowvar=False)), np.atleast_2d(np.cov(second, rowvar=False))
    root_first = _psd_sqrt(cov_first)
    middle = root_first @ cov_second @ root_first
    cross = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0.0, None)).sum()
    distance = mean_gap @ mean_gap + np.trace(cov_first) + np.trace(cov_second) - 2.0 * cross
    return max(float(distance), 0.0)  # rounding can leave -1e-12 for identical sets


def _psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    values, vectors = np.linalg.eigh((matrix + matrix.T) / 2)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T
