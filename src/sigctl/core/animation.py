"""Animation (the paper's section 4): a smooth random walk in noise space, anchored on the
reconstruction noise, rendered frame by frame.

Per scale: z_f = anchor x z_rec + (1 - anchor) x (z_{f-1} + d_f), with the momentum step
d_f = (1 - walk) x (z_{f-1} - z_{f-2}) + walk x fresh noise. z_rec is z* at the coarsest scale and
0 above; scales below the start scale stay on the reconstruction. The walk advances one chunk of
frames at a time, so memory does not grow with the number of frames.
"""

from __future__ import annotations

import numpy as np

from sigctl.core.noise import scale_noise
from sigctl.core.operations import Cancelled, Executor, Request, run_stages
from sigctl.core.pixels import resize, to_uint8
from sigctl.core.requests import RequestPlan
from sigctl.core.scales import request_sizes


def animate(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    sizes = request_sizes(executor.layout, plan.height, plan.width)
    walks = {scale: _Walk(executor, request, scale, sizes[scale]) for scale in range(plan.start_scale, executor.layout.num_scales)}
    entering = np.zeros((1, 3, *sizes[0]), np.float32) if plan.start_scale == 0 else executor.reconstruction(plan.start_scale - 1)
    frames = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first in range(0, plan.count, plan.chunk):
        count = min(plan.chunk, plan.count - first)
        noises = {scale: walk.advance(count) for scale, walk in walks.items()}
        rendered = run_stages(executor, plan.start_scale, np.repeat(entering, count, axis=0), noises.__getitem__, cancelled)
        frames[first : first + count] = to_uint8(rendered)
    return frames


class _Walk:
    """The noise walk of one scale, advanced a few frames at a time."""

    def __init__(self, executor: Executor, request: Request, scale: int, size: tuple[int, int]):
        self.request, self.scale, self.size = request, scale, size
        if scale == 0:
            self.anchor_noise = resize(executor.reconstruction_noise()[0], *size)
        else:
            self.anchor_noise = np.zeros((3, *size), np.float32)
        self.frame = 0
        self.previous, self.before = 0.95 * self.anchor_noise + 0.05 * self._fresh(-1), self.anchor_noise

    def _fresh(self, frame: int) -> np.ndarray:
        # A stream per (frame, scale); frame -1 seeds the walk. (frame + 2) << 8 keeps clear of the
        # indices plain sampling (0..255) uses.
        return scale_noise(self.request.seed, ((frame + 2) << 8) | self.scale, *self.size, single_channel=self.scale == 0)

    def advance(self, count: int) -> np.ndarray:
        """The next ``count`` frames' noise, count x 3 x h x w."""
        walk = np.empty((count, 3, *self.size), np.float32)
        strength, anchor = self.request.walk_strength, self.request.anchor
        for index in range(count):
            step = (1.0 - strength) * (self.previous - self.before) + strength * self._fresh(self.frame)
            current = anchor * self.anchor_noise + (1.0 - anchor) * (self.previous + step)
            walk[index] = current
            self.before, self.previous = self.previous, current
            self.frame += 1
        return walk
