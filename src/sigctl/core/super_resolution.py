"""Super-resolution (the paper's section 4): upsample by the pyramid's factor r and run the finest
generator, k times, with r^k as close as possible to the requested factor; the last step lands
exactly on factor x the input size. Needs a pyramid trained with the sr recipe. The steps and their
sizes are planned (and checked) by ``sigctl.core.requests.plan_request``."""

from __future__ import annotations

import numpy as np

from sigctl.core.noise import scale_noise
from sigctl.core.operations import Cancelled, Executor, Request, stop_if_cancelled
from sigctl.core.pixels import to_network, to_uint8
from sigctl.core.requests import RequestPlan


def super_resolve(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    finest = executor.layout.num_scales - 1
    start = to_network(request.image)[None]
    images = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first in range(0, plan.count, plan.chunk):
        seeds = range(request.seed + first, request.seed + min(first + plan.chunk, plan.count))
        current = np.repeat(start, len(seeds), axis=0)
        for index, size in enumerate(plan.step_sizes, start=1):
            stop_if_cancelled(cancelled)
            # Noise streams beyond the pyramid's own scale indices, one per step.
            noise = np.stack([scale_noise(s, executor.layout.num_scales + index, *size, single_channel=False) for s in seeds])
            current = executor.run_scales(finest, current, [noise])
        images[first : first + len(seeds)] = to_uint8(current)
    return images
