"""Pyramid geometry: how many scales, their sizes, and the sizes for an arbitrary request.

Scale 0 is the coarsest scale here; the SinGAN paper numbers the other way (its scale N is our 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sigctl.errors import ImageInputError, RequestError


@dataclass(frozen=True)
class PyramidLayout:
    """Sizes of the training pyramid.

    Attributes:
        sizes: (height, width) per scale, coarsest first; the last is the training image size.
        scale_factor: size ratio between neighbouring scales (> 1).
    """

    sizes: tuple[tuple[int, int], ...]
    scale_factor: float

    @property
    def num_scales(self) -> int:
        return len(self.sizes)

    @property
    def finest_size(self) -> tuple[int, int]:
        return self.sizes[-1]


def fit_to_max_size(height: int, width: int, max_size: int) -> tuple[int, int]:
    """Size of an image shrunk (never enlarged) so that its longer side is at most ``max_size``."""
    ratio = min(1.0, max_size / max(height, width))
    return max(1, round(height * ratio)), max(1, round(width * ratio))


def plan_pyramid(height: int, width: int, min_size: int, target_factor: float, exact_factor: float | None = None) -> PyramidLayout:
    """Choose the scales for a training image already fitted to the maximum size.

    The coarsest scale's shorter side is ``min_size``; the number of scales is the one whose
    factor between scales comes closest (in log space) to ``target_factor``. With
    ``exact_factor`` (super-resolution) the factor is exactly that and the coarsest side is
    the nearest to ``min_size`` it allows.
    """
    shorter = min(height, width)
    if shorter < min_size:
        raise ImageInputError(
            f"the image is {height}x{width} px; its shorter side must be at least {min_size} px "
            f"(the coarsest scale's size, pyramid.min_size): use a larger image or a smaller min_size"
        )
    if exact_factor is not None:
        steps = max(1, round(math.log(shorter / min_size) / math.log(exact_factor)))
        factor = exact_factor
    else:
        steps = max(1, round(math.log(shorter / min_size) / math.log(target_factor)))
        factor = (shorter / min_size) ** (1.0 / steps)
    if factor <= 1.0:
        # The image is exactly min_size: one step of factor 1 would be a no-op pyramid level.
        factor = 1.0 + 1e-6
    sizes = tuple(_scaled_size(height, width, factor ** (steps - n)) for n in range(steps + 1))
    return PyramidLayout(sizes=sizes, scale_factor=factor)


def request_sizes(layout: PyramidLayout, height: int, width: int) -> list[tuple[int, int]]:
    """Per-scale sizes for an output of ``height`` x ``width``.

    Each scale keeps the training pyramid's ratio to the finest scale, so a request at the
    training size reproduces the training sizes exactly.
    """
    last = layout.num_scales - 1
    return [_scaled_size(height, width, layout.scale_factor ** (last - n)) for n in range(layout.num_scales)]


def check_request_size(height: int, width: int, min_side: int, max_pixels: int) -> None:
    """Reject output sizes that are too small to carry the pyramid or too large for memory."""
    if height < min_side or width < min_side:
        raise RequestError(f"size {height}x{width} is too small: height and width must be at least {min_side} px")
    if height * width > max_pixels:
        raise RequestError(
            f"size {height}x{width} ({height * width} px) exceeds the limit of {max_pixels} px per image; "
            f"ask for a smaller size or raise the limit"
        )


def _scaled_size(height: int, width: int, shrink: float) -> tuple[int, int]:
    return max(1, round(height / shrink)), max(1, round(width / shrink))
