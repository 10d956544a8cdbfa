"""Super-resolution (the SinGAN paper's section 4): upsample by the pyramid's factor r and run the
finest stage, k times, with r^k as close as possible to the requested factor; the last step lands
exactly on factor x the input size. Only models whose state is the RGB image and that were trained
for it list this mode (SinGAN with ``super_resolution_factor``). The steps and their sizes are
planned (and checked) by ``sigctl.core.requests.plan_request``."""

from __future__ import annotations

import numpy as np

from sigctl.core.pixels import to_network, to_uint8
from sigctl.core.requests import RequestPlan
from sigctl.core.stages import Cancelled, Executor, Request, stop_if_cancelled


def super_resolve(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    spec = executor.spec
    finest = spec.num_stages - 1
    start = to_network(request.image)[None]
    images = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first in range(0, plan.count, plan.chunk):
        seeds = range(request.seed + first, request.seed + min(first + plan.chunk, plan.count))
        current = np.repeat(start, len(seeds), axis=0)
        for index, size in enumerate(plan.step_sizes, start=1):
            stop_if_cancelled(cancelled)
            # Noise streams beyond the model's own stage indices, one per step.
            noise = executor.seeded_noise(spec.noises[finest], seeds, spec.num_stages + index, *size)
            current = executor.run_stage(finest, current, noise)
        images[first : first + len(seeds)] = to_uint8(executor.state_to_rgb(current))
    return images
