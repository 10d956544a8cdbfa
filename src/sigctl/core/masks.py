"""Masks and colour palettes for injected images. numpy only."""

from __future__ import annotations

import numpy as np

from sigctl.core.pixels import resize


def soft_mask(mask: np.ndarray, height: int, width: int, dilation: int, blur: int) -> np.ndarray:
    """HxW uint8 mask (> 127 = regenerate) -> HxW float in [0, 1] at the output size.

    Grown by ``dilation`` px so the regenerated region covers the pasted object's edge, then
    softened over about ``blur`` px so it blends; exactly 0 far from the mask, so untouched
    pixels stay untouched.
    """
    binary = (mask > 127).astype(np.float32)
    if binary.shape != (height, width):
        binary = (resize(binary[None], height, width)[0] > 0.5).astype(np.float32)
    grown = _dilate(binary, dilation)
    if blur > 0:
        grown = _gaussian_blur(grown, sigma=blur / 2.0)
        grown[grown < 1e-3] = 0.0  # no faint halo over the untouched region
    return np.clip(grown, 0.0, 1.0)


def _dilate(mask: np.ndarray, radius: int) -> np.ndarray:
    for axis in (0, 1):
        grown = mask.copy()
        for shift in range(1, radius + 1):
            grown = np.maximum(grown, _shifted(mask, shift, axis))
            grown = np.maximum(grown, _shifted(mask, -shift, axis))
        mask = grown
    return mask


def _shifted(array: np.ndarray, shift: int, axis: int) -> np.ndarray:
    out = np.zeros_like(array)
    length = array.shape[axis]
    if abs(shift) >= length:
        return out
    source = [slice(None)] * 2
    target = [slice(None)] * 2
    source[axis] = slice(max(0, -shift), length - max(0, shift))
    target[axis] = slice(max(0, shift), length - max(0, -shift))
    out[tuple(target)] = array[tuple(source)]
    return out


def _gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()

    def band(length: int) -> np.ndarray:
        matrix = np.zeros((length, length))
        for offset, tap in zip(range(-radius, radius + 1), taps):
            matrix += tap * np.eye(length, k=offset)
        return matrix

    return (band(image.shape[0]) @ image @ band(image.shape[1]).T).astype(np.float32)


def palette(reference: np.ndarray, colours: int, iterations: int = 20) -> np.ndarray:
    """k-means colours (colours x 3, uint8 scale floats) of an HxWx3 uint8 image, deterministic."""
    pixels = reference.reshape(-1, 3).astype(np.float64)
    brightness = pixels.sum(axis=1)
    # Deterministic start: pixels at evenly spaced brightness quantiles.
    order = np.argsort(brightness, kind="stable")
    centres = pixels[order[np.linspace(0, len(order) - 1, colours).round().astype(int)]]
    for _ in range(iterations):
        nearest = np.argmin(((pixels[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
        for k in range(colours):
            members = pixels[nearest == k]
            if len(members):
                centres[k] = members.mean(axis=0)
    return centres


def quantize(rgb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Replace every pixel of an HxWx3 uint8 image by its nearest palette colour."""
    pixels = rgb.reshape(-1, 3).astype(np.float64)
    nearest = np.argmin(((pixels[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return np.round(centres[nearest]).astype(np.uint8).reshape(rgb.shape)
