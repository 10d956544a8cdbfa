"""Pixel diversity, as the SinGAN paper defines it. numpy only.

Grey = mean of RGB in [0, 1]; the standard deviation of each pixel over the samples, averaged over
pixels, divided by the standard deviation of the real image's grey values. 0 means every sample is
the same image; about 0.5 is what the family's papers report for SinGAN on Places.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def grey(rgb: np.ndarray) -> np.ndarray:
    """HxWx3 (or NxHxWx3) uint8 -> float64 grey in [0, 1], the plain mean of R, G and B."""
    return np.asarray(rgb, dtype=np.float64).mean(axis=-1) / 255.0


def pixel_diversity(real: np.ndarray, samples: Sequence[np.ndarray] | np.ndarray) -> float:
    """Mean per-pixel std of the samples' grey values over the std of the real image's grey values.

    Args:
        real: HxWx3 uint8, the training image.
        samples: N >= 2 images of one size (HxWx3 uint8), usually the training size.
    """
    if len(samples) < 2:
        raise ValueError(f"pixel diversity needs at least 2 samples, got {len(samples)}")
    sizes = {np.shape(sample)[:2] for sample in samples}
    if len(sizes) > 1:
        raise ValueError(f"pixel diversity compares samples pixel by pixel, so they need one size; got {sorted(sizes)}")
    stack = np.stack([np.asarray(sample) for sample in samples])
    spread = float(grey(real).std())
    if spread == 0.0:
        raise ValueError("the real image is one flat colour: pixel diversity (relative to its spread) is undefined")
    # ddof=0, as SinGAN's own evaluation computes it with numpy's default.
    return float(grey(stack).std(axis=0).mean()) / spread
