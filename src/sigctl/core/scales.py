"""Pyramid geometry: how many scales, their sizes, and the sizes for an arbitrary request.

Scale 0 is the coarsest scale here; the SinGAN paper numbers the other way (its scale N is our 0).

Two plans are offered (``PyramidSettings.plan``):

- ``reference``: what the SinGAN reference code does (``adjust_scales2image`` and
  ``create_reals_pyramid``), so published numbers describe the same model. The scale count is
  planned on the *source* size, the factor re-fitted on the fitted size, sizes rounded up.
- ``closest_factor``: the number of scales whose factor is closest to the target factor
  (sigctl's first rule; fewer scales, a smaller model).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from sigctl.errors import ImageInputError, RequestError

SizeRounding = Literal["round", "ceil"]


@dataclass(frozen=True)
class PyramidLayout:
    """Sizes of the training pyramid.

    Attributes:
        sizes: (height, width) per scale, coarsest first; the last is the training image size.
        scale_factor: size ratio between neighbouring scales (>= 1).
        size_rounding: how a scale's size is rounded from finest x factor ** -k ("ceil" for the
            reference plan, "round" otherwise); requests use the same rule, so a request at the
            training size gets exactly the training sizes.
        stage_scales: each stage's size ratio to the finest when stages are not spaced
            geometrically (ConSinGAN's dense low-resolution stages); None: ``scale_factor ** -k``.
            ``scale_factor`` then only describes the coarsest-to-finest span.
    """

    sizes: tuple[tuple[int, int], ...]
    scale_factor: float
    size_rounding: SizeRounding = "round"
    stage_scales: tuple[float, ...] | None = None

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


def fit_exactly(height: int, width: int, max_size: int) -> tuple[int, int]:
    """The reference code's fit: scale by min(max_size / longer, 1), sides rounded up.

    Computed in integers: the reference's float product can land a hair above an integer and
    round up past ``max_size`` (1920 x 250/1920 = 250.00000000000003); the exact value is meant.
    """
    longer = max(height, width)
    if longer <= max_size:
        return height, width
    return -(-height * max_size // longer), -(-width * max_size // longer)


def plan_reference(
    source_height: int, source_width: int, max_size: int, min_size: int, target_factor: float
) -> PyramidLayout:
    """The SinGAN reference code's pyramid for a source image of ``source_height x source_width``.

    With ``r0 = 1 / target_factor`` (0.75): ``num_scales = ceil(log_r0(min_size / shorter)) + 1``
    and ``stop = num_scales - ceil(log_r0(min(max_size, longer) / longer))`` on the source size;
    then, on the fitted size, ``r = (min_size / shorter) ** (1 / stop)`` and scales 0..stop have
    sizes ``ceil(fitted * r ** (stop - n))``. Balloons (186x248): 9 scales, r = 0.778.
    """
    r0 = 1.0 / target_factor
    shorter, longer = min(source_height, source_width), max(source_height, source_width)
    height, width = fit_exactly(source_height, source_width, max_size)
    _check_shorter_side(height, width, min_size)
    num_scales = math.ceil(math.log(min_size / shorter, r0)) + 1
    stop = max(1, num_scales - math.ceil(math.log(min(max_size, longer) / longer, r0)))
    scale_factor = 1.0 / math.pow(min_size / min(height, width), 1.0 / stop)
    # The same size rule as request_sizes, so a request at the training size gets the training sizes.
    sizes = _sizes_for(scale_factor, "ceil", stop + 1, height, width)
    return PyramidLayout(sizes=tuple(sizes), scale_factor=scale_factor, size_rounding="ceil")


def _check_shorter_side(height: int, width: int, min_size: int) -> None:
    if min(height, width) < min_size:
        raise ImageInputError(
            f"the image is {height}x{width} px; its shorter side must be at least {min_size} px "
            f"(the coarsest scale's size, pyramid.min_size): use a larger image or a smaller min_size"
        )


def plan_closest_factor(height: int, width: int, min_size: int, target_factor: float, exact_factor: float | None = None) -> PyramidLayout:
    """The ``closest_factor`` plan for a training image already fitted to the maximum size.

    The coarsest scale's shorter side is ``min_size``; the number of scales is the one whose
    factor between scales comes closest (in log space) to ``target_factor``. With
    ``exact_factor`` (super-resolution) the factor is exactly that and the coarsest side is
    the nearest to ``min_size`` it allows.
    """
    _check_shorter_side(height, width, min_size)
    shorter = min(height, width)
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
    if layout.stage_scales is not None:
        return sizes_at_scales(layout.stage_scales, layout.size_rounding, height, width)
    return _sizes_for(layout.scale_factor, layout.size_rounding, layout.num_scales, height, width)


def sizes_at_scales(stage_scales: tuple[float, ...], rounding: SizeRounding, height: int, width: int) -> list[tuple[int, int]]:
    """Stage sizes ``scale x side`` rounded by ``rounding`` (never below 1 px); the rule training
    plans non-geometric stages with, so the training size maps to the training sizes."""
    rule = math.ceil if rounding == "ceil" else round
    return [(max(1, rule(height * scale)), max(1, rule(width * scale))) for scale in stage_scales]


def check_request_size(height: int, width: int, min_side: int, max_pixels: int) -> None:
    """Reject output sizes that are too small to carry the pyramid or too large for memory."""
    if height < min_side or width < min_side:
        raise RequestError(f"size {height}x{width} is too small: height and width must be at least {min_side} px")
    if height * width > max_pixels:
        raise RequestError(
            f"size {height}x{width} ({height * width} px) exceeds the limit of {max_pixels} px per image; "
            f"ask for a smaller size or raise the limit"
        )


def _sizes_for(scale_factor: float, rounding: SizeRounding, num_scales: int, height: int, width: int) -> list[tuple[int, int]]:
    last = num_scales - 1
    if rounding == "ceil":
        # The reference code's imresize: ceil(size * r ** k), in float64, as it computes it.
        shrink = 1.0 / scale_factor
        return [(math.ceil(height * math.pow(shrink, last - n)), math.ceil(width * math.pow(shrink, last - n))) for n in range(num_scales)]
    return [_scaled_size(height, width, scale_factor ** (last - n)) for n in range(num_scales)]


def _scaled_size(height: int, width: int, shrink: float) -> tuple[int, int]:
    return max(1, round(height / shrink)), max(1, round(width / shrink))
