"""Animation (the paper's section 4): a smooth random walk in noise space, anchored on the
reconstruction noise, rendered frame by frame.

Per scale: z_f = anchor x z_rec + (1 - anchor) x (z_{f-1} + d_f), with the momentum step
d_f = (1 - walk) x (z_{f-1} - z_{f-2}) + walk x fresh noise. z_rec is z* at the coarsest scale and
0 above; scales below the start scale stay on the reconstruction.
"""

from __future__ import annotations

import numpy as np

from sigctl.core.noise import scale_noise
from sigctl.core.operations import BATCH, Executor, Request
from sigctl.core.pixels import resize, to_uint8
from sigctl.core.requests import RequestLimits, resolve_sample_request
from sigctl.core.scales import PyramidLayout, request_sizes
from sigctl.errors import RequestError


def checked_request(layout: PyramidLayout, request: Request, limits: RequestLimits) -> tuple[int, int, int]:
    """(start scale, height, width) of an animation request; raises for anything ``animate`` refuses."""
    if not 2 <= request.frames <= limits.max_frames:
        raise RequestError(f"frames must be between 2 and {limits.max_frames}, got {request.frames}")
    for name, value in (("walk strength", request.walk_strength), ("anchor", request.anchor)):
        if not 0.0 <= value <= 1.0:
            raise RequestError(f"{name} must be between 0 and 1, got {value}")
    start_scale = request.start_scale or 0
    height, width = resolve_sample_request(layout, limits, 1, request.height, request.width, start_scale)
    return start_scale, height, width


def animate(executor: Executor, request: Request, limits: RequestLimits) -> np.ndarray:
    start_scale, height, width = checked_request(executor.layout, request, limits)
    sizes = request_sizes(executor.layout, height, width)
    walks = [_walk(executor, request, scale, sizes[scale]) for scale in range(start_scale, executor.layout.num_scales)]
    entering = np.zeros((1, 3, *sizes[0]), np.float32) if start_scale == 0 else executor.reconstruction(start_scale - 1)
    frames = []
    for first in range(0, request.frames, BATCH):
        chosen = slice(first, min(first + BATCH, request.frames))
        noises = [walk[chosen] for walk in walks]
        batch_entering = np.repeat(entering, noises[0].shape[0], axis=0)
        frames.append(to_uint8(executor.run_scales(start_scale, batch_entering, noises)))
    return np.concatenate(frames)


def _walk(executor: Executor, request: Request, scale: int, size: tuple[int, int]) -> np.ndarray:
    """frames x 3 x h x w noise for one scale."""
    if scale == 0:
        anchor_noise = resize(executor.reconstruction_noise()[0], *size)
    else:
        anchor_noise = np.zeros((3, *size), np.float32)

    def fresh(frame: int) -> np.ndarray:
        # A stream per (frame, scale); frame -1 seeds the walk. (frame + 2) << 8 keeps clear of the
        # indices plain sampling (0..255) uses.
        return scale_noise(request.seed, ((frame + 2) << 8) | scale, *size, single_channel=scale == 0)

    previous, before = 0.95 * anchor_noise + 0.05 * fresh(-1), anchor_noise
    walk = np.empty((request.frames, 3, *size), np.float32)
    for frame in range(request.frames):
        step = (1.0 - request.walk_strength) * (previous - before) + request.walk_strength * fresh(frame)
        current = request.anchor * anchor_noise + (1.0 - request.anchor) * (previous + step)
        walk[frame] = current
        before, previous = previous, current
    return walk
