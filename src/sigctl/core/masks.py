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
    """Grow a non-negative mask by ``radius`` px along each axis (a (2r+1)-wide running max, zeros
    outside), in O(log r) passes: a window of width w and one of width s <= w, s px further on,
    together cover width w + s."""
    if radius <= 0:
        return mask
    width = 2 * radius + 1
    for axis in (0, 1):
        padding = [(0, 0), (0, 0)]
        padding[axis] = (radius, radius)
        grown, covered = np.pad(mask, padding), 1
        while covered < width:
            step = min(covered, width - covered)
            grown = np.maximum(grown, _shifted(grown, -step, axis))
            covered += step
        mask = grown[(slice(None), slice(0, mask.shape[1])) if axis else (slice(0, mask.shape[0]), slice(None))]
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
    """Separable Gaussian blur with zeros outside, summed in float64 one tap at a time: memory stays
    at a few copies of the image whatever its size (a band matrix would be side x side)."""
    radius = max(1, int(round(3 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()
    blurred = image.astype(np.float64)
    for axis in (0, 1):
        source = np.pad(blurred, [(radius, radius) if a == axis else (0, 0) for a in (0, 1)])
        length = blurred.shape[axis]
        total = np.zeros_like(blurred)
        for offset, tap in enumerate(taps):
            total += tap * (source[offset : offset + length] if axis == 0 else source[:, offset : offset + length])
        blurred = total
    return blurred.astype(np.float32)


def palette(reference: np.ndarray, colours: int, iterations: int = 20) -> np.ndarray:
    """k-means colours (colours x 3, uint8 scale floats) of an HxWx3 uint8 image, deterministic."""
    pixels = reference.reshape(-1, 3).astype(np.float64)
    brightness = pixels.sum(axis=1)
    # Deterministic start: pixels at evenly spaced brightness quantiles.
    order = np.argsort(brightness, kind="stable")
    centres = pixels[order[np.linspace(0, len(order) - 1, colours).round().astype(int)]]
    for _ in range(iterations):
        nearest = _nearest(pixels, centres)
        for k in range(colours):
            members = pixels[nearest == k]
            if len(members):
                centres[k] = members.mean(axis=0)
    return centres


def quantize(rgb: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Replace every pixel of an HxWx3 uint8 image by its nearest palette colour."""
    nearest = _nearest(rgb.reshape(-1, 3).astype(np.float64), centres)
    return np.round(centres[nearest]).astype(np.uint8).reshape(rgb.shape)


def _nearest(pixels: np.ndarray, centres: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Index of the nearest centre per pixel, a chunk of pixels at a time (pixels x centres x 3
    floats at once would be gigabytes for a large image)."""
    nearest = np.empty(len(pixels), np.int64)
    for first in range(0, len(pixels), chunk):
        part = pixels[first : first + chunk]
        nearest[first : first + chunk] = np.argmin(((part[:, None, :] - centres[None]) ** 2).sum(axis=2), axis=1)
    return nearest
