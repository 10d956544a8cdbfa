"""Animation (the SinGAN paper's section 4): a smooth random walk in noise space, anchored on the
reconstruction noise, rendered frame by frame.

Per stage: z_f = anchor x z_rec + (1 - anchor) x (z_{f-1} + d_f), with the momentum step
d_f = (1 - walk) x (z_{f-1} - z_{f-2}) + walk x fresh noise. z_rec is the reconstruction path's
noise of the stage (SinGAN: z* at the coarsest, 0 above; ConSinGAN: the coarsest real image, then
its fixed noise); stages below the start stage stay on the reconstruction. The walk advances one
chunk of frames at a time, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import numpy as np

from sigctl.core.pixels import to_uint8
from sigctl.core.requests import RequestPlan
from sigctl.core.stages import Cancelled, Executor, Request, entering_state, run_stages, stage_sizes, unit_noise


def animate(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    sizes = stage_sizes(executor, *plan.generated_size)
    walks = {stage: _Walk(executor, request, stage, sizes[stage]) for stage in range(plan.start_scale, executor.spec.num_stages)}
    frames = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first in range(0, plan.count, plan.chunk):
        count = min(plan.chunk, plan.count - first)
        noises = {stage: walk.advance(count) for stage, walk in walks.items()}
        entering = entering_state(executor, plan.start_scale, count, sizes)
        frames[first : first + count] = to_uint8(run_stages(executor, plan.start_scale, entering, noises.__getitem__, cancelled, plan.upscale))
    return frames


class _Walk:
    """The noise walk of one stage, advanced a few frames at a time."""

    def __init__(self, executor: Executor, request: Request, stage: int, size: tuple[int, int]):
        self.request, self.stage, self.size = request, stage, size
        self.noise_spec = executor.spec.noises[stage]
        self.anchor_noise = executor.reconstruction_noise(stage, *size)[0]
        self.frame = 0
        self.previous, self.before = 0.95 * self.anchor_noise + 0.05 * self._fresh(-1), self.anchor_noise

    def _fresh(self, frame: int) -> np.ndarray:
        # A stream per (frame, stage); frame -1 seeds the walk. (frame + 2) << 8 keeps clear of the
        # indices plain sampling (0..255) uses.
        return unit_noise(self.noise_spec, self.request.seed, ((frame + 2) << 8) | self.stage, *self.size)

    def advance(self, count: int) -> np.ndarray:
        """The next ``count`` frames' noise, count x C x h x w."""
        walk = np.empty((count, *self.anchor_noise.shape), np.float32)
        strength, anchor = self.request.walk_strength, self.request.anchor
        for index in range(count):
            step = (1.0 - strength) * (self.previous - self.before) + strength * self._fresh(self.frame)
            current = anchor * self.anchor_noise + (1.0 - anchor) * (self.previous + step)
            walk[index] = current
            self.before, self.previous = self.previous, current
            self.frame += 1
        return walk
