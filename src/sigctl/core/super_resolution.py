"""Super-resolution (the paper's section 4): upsample by the pyramid's factor r and run the finest
generator, k times, with r^k as close as possible to the requested factor; the last step lands
exactly on factor x the input size. Needs a pyramid trained with the sr recipe."""

from __future__ import annotations

import math

import numpy as np

from sigctl.core.injection import checked_image
from sigctl.core.noise import scale_noise
from sigctl.core.operations import Executor, Request
from sigctl.core.pixels import to_network, to_uint8
from sigctl.core.requests import RequestLimits, check_count
from sigctl.core.scales import check_request_size
from sigctl.errors import RequestError

MAX_FACTOR = 16.0


def checked_request(trained_factor: float | None, request: Request, limits: RequestLimits) -> tuple[float, tuple[int, int]]:
    """(factor, output size) of a super-resolution request; raises for anything ``super_resolve`` refuses."""
    if trained_factor is None:
        raise RequestError("this model was not trained for super-resolution; train one with 'sigctl train IMAGE --factor F'")
    factor = request.sr_factor or trained_factor
    if not 1.0 < factor <= MAX_FACTOR:
        raise RequestError(f"super-resolution factor must be in (1, {MAX_FACTOR:g}], got {factor:g}")
    image = checked_image(request.image, "IMAGE", limits)
    check_count(limits, request.num_samples)
    target = (round(image.shape[0] * factor), round(image.shape[1] * factor))
    check_request_size(*target, limits.min_side, limits.max_pixels)
    return factor, target


def super_resolve(executor: Executor, request: Request, limits: RequestLimits) -> np.ndarray:
    factor, target = checked_request(executor.super_resolution_factor, request, limits)
    image = request.image
    height, width = image.shape[:2]

    step = executor.layout.scale_factor
    steps = max(1, round(math.log(factor) / math.log(step)))
    finest = executor.layout.num_scales - 1
    current = np.repeat(to_network(image)[None], request.num_samples, axis=0)
    for index in range(1, steps + 1):
        size = target if index == steps else (round(height * step**index), round(width * step**index))
        # Noise streams beyond the pyramid's own scale indices, one per step.
        noise = np.stack([scale_noise(request.seed + i, executor.layout.num_scales + index, *size, single_channel=False) for i in range(request.num_samples)])
        current = executor.run_scales(finest, current, [noise])
    return to_uint8(current)
