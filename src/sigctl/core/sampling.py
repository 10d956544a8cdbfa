"""Random samples: fresh noise from the start stage, the reconstruction's state below it.

Scales below the start scale follow the reconstruction, stretched to the requested size. With an
UPSCALE the stages run at the size / UPSCALE and the model's learned upsampler enlarges the result.
"""

from __future__ import annotations

import numpy as np

from sigctl.core.pixels import to_uint8
from sigctl.core.requests import RequestPlan
from sigctl.core.stages import Cancelled, Executor, Request, entering_state, never_cancelled, seeded_chunks, stage_sizes


def sample(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled | None = None) -> np.ndarray:
    """Random samples as NxHxWx3 uint8, converted chunk by chunk (peak memory does not grow with N)."""
    images = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first, chunk in sample_chunks(executor, request, plan, cancelled or never_cancelled):
        images[first : first + len(chunk)] = to_uint8(chunk)
    return images


def sample_chunks(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled):
    """(index of the first, N x 3 x H x W float32 in [-1, 1]) per chunk."""
    sizes = stage_sizes(executor, *plan.generated_size)

    def entering(count: int) -> np.ndarray | None:
        return entering_state(executor, plan.start_scale, count, sizes)

    return seeded_chunks(executor, plan.start_scale, entering, sizes, request.seed, plan.count, plan.chunk, cancelled, upscale=plan.upscale)
