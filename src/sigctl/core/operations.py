"""Every request a pyramid answers, written once against an ``Executor``.

An executor runs generator scales (PyTorch in process, onnxruntime when served); everything
else (noise, sizes, injected images, masks, super-resolution steps, animation walks) happens
here in numpy, so in-process and served results can only differ by the convolutions' float
rounding. numpy only: the serving runtime imports this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigctl.core.noise import scale_noise
from sigctl.core.pixels import to_uint8
from sigctl.core.requests import RequestLimits, check_seed, resolve_sample_request
from sigctl.core.scales import PyramidLayout, request_sizes
from sigctl.errors import RequestError

MODE_SAMPLE = "sample"
MODE_RECONSTRUCT = "reconstruct"
MODE_PAINT = "paint"
MODE_EDIT = "edit"
MODE_HARMONIZE = "harmonize"
MODE_SUPER_RESOLVE = "super_resolve"
MODE_ANIMATE = "animate"
MODES = (MODE_SAMPLE, MODE_RECONSTRUCT, MODE_PAINT, MODE_EDIT, MODE_HARMONIZE, MODE_SUPER_RESOLVE, MODE_ANIMATE)

BATCH = 8  # samples run through the pyramid together; bounds memory at large sizes


class Executor(Protocol):
    """What operations need from a trained pyramid."""

    layout: PyramidLayout
    super_resolution_factor: float | None  # the factor trained for, or None

    def run_scales(self, start_scale: int, entering: np.ndarray, noises: Sequence[np.ndarray]) -> np.ndarray:
        """Run scales start_scale.. with Nx3xhxw float32 ``entering`` (any size) and unit noises; Nx3xHxW out."""

    def reconstruction(self, scale: int) -> np.ndarray:
        """1x3xhxw float32 reconstruction of the training image at ``scale`` (training size)."""

    def reconstruction_noise(self) -> np.ndarray:
        """1x3xhxw float32 z*, the noise the reconstruction is anchored on (coarsest training size)."""

    def reference(self) -> np.ndarray:
        """HxWx3 uint8 training image as trained on."""


@dataclass(frozen=True)
class Request:
    """One request, as the CLI, the Python API and the served model's inputs all express it.

    ``None`` means "the mode's default" (documented per mode in the README).
    """

    mode: str = MODE_SAMPLE
    seed: int = 0
    num_samples: int = 1
    height: int | None = None
    width: int | None = None
    start_scale: int | None = None
    image: np.ndarray | None = None  # HxWx3 uint8 injected image
    mask: np.ndarray | None = None  # HxW uint8, > 127 marks the region to regenerate
    quantize_colors: int = 0  # paint: map the painting to this many colours of the training image (0: off)
    mask_dilation: int = 5  # edit/harmonize: grow the mask by this many px
    mask_blur: int = 5  # edit/harmonize: soften the mask edge over about this many px
    sr_factor: float | None = None
    frames: int = 30
    walk_strength: float = 0.1  # animate: share of fresh noise per frame
    anchor: float = 0.1  # animate: pull towards the reconstruction noise per frame


def execute(executor: Executor, request: Request, limits: RequestLimits = RequestLimits()) -> np.ndarray:
    """Answer ``request`` with NxHxWx3 uint8 images (frames, for animate)."""
    _check_mode_and_seed(request)
    if request.mode == MODE_RECONSTRUCT:
        return to_uint8(executor.reconstruction(executor.layout.num_scales - 1))
    if request.mode == MODE_SAMPLE:
        return sample(executor, request, limits)
    # Imported here: each manipulation module is small and only needed for its mode.
    if request.mode in (MODE_PAINT, MODE_EDIT, MODE_HARMONIZE):
        from sigctl.core import injection

        return injection.inject(executor, request, limits)
    if request.mode == MODE_SUPER_RESOLVE:
        from sigctl.core import super_resolution

        return super_resolution.super_resolve(executor, request, limits)
    from sigctl.core import animation

    return animation.animate(executor, request, limits)


def sample(executor: Executor, request: Request, limits: RequestLimits) -> np.ndarray:
    """Random samples as NxHxWx3 uint8."""
    return to_uint8(sample_float(executor, request, limits))


def sample_float(executor: Executor, request: Request, limits: RequestLimits = RequestLimits()) -> np.ndarray:
    """Random samples as Nx3xHxW float32 in [-1, 1]; scales below the start scale follow the
    reconstruction, stretched to the requested size."""
    start_scale, height, width = _sample_geometry(executor.layout, request, limits)
    sizes = request_sizes(executor.layout, height, width)
    if start_scale == 0:
        entering = np.zeros((1, 3, *sizes[0]), np.float32)
    else:
        entering = executor.reconstruction(start_scale - 1)
    return run_seeded(executor, start_scale, entering, sizes, request.seed, request.num_samples)


def run_seeded(executor: Executor, start_scale: int, entering: np.ndarray, sizes: list[tuple[int, int]], seed: int, count: int) -> np.ndarray:
    """Run ``count`` samples (seeds seed..seed+count-1) from ``start_scale``; Nx3xHxW float32 out.

    ``entering`` (1x3xhxw) is shared by all samples; sample i's noise depends only on seed + i.
    """
    outputs = []
    for first in range(0, count, BATCH):
        seeds = range(seed + first, seed + min(first + BATCH, count))
        noises = [
            np.stack([scale_noise(s, scale, *sizes[scale], single_channel=scale == 0) for s in seeds])
            for scale in range(start_scale, executor.layout.num_scales)
        ]
        batch_entering = np.repeat(entering, len(seeds), axis=0)
        outputs.append(executor.run_scales(start_scale, batch_entering, noises))
    return np.concatenate(outputs)


def check_request(layout: PyramidLayout, request: Request, limits: RequestLimits = RequestLimits(),
                  super_resolution_factor: float | None = None) -> None:
    """Refuse ``request`` as ``execute`` would on a pyramid of ``layout``, without running anything.

    The same checks, in the same functions (seeds, count, size, start scale, what the mode needs);
    batch jobs run it for every planned item before their first request.
    """
    _check_mode_and_seed(request)
    if request.mode == MODE_SAMPLE:
        _sample_geometry(layout, request, limits)
    elif request.mode in (MODE_PAINT, MODE_EDIT, MODE_HARMONIZE):
        from sigctl.core import injection

        injection.checked_request(layout, request, limits)
    elif request.mode == MODE_SUPER_RESOLVE:
        from sigctl.core import super_resolution

        super_resolution.checked_request(super_resolution_factor, request, limits)
    elif request.mode == MODE_ANIMATE:
        from sigctl.core import animation

        animation.checked_request(layout, request, limits)


def _check_mode_and_seed(request: Request) -> None:
    if request.mode not in MODES:
        raise RequestError(f"MODE {request.mode!r} is not supported; use one of {', '.join(MODES)}")
    check_seed(request.seed, request.num_samples)


def _sample_geometry(layout: PyramidLayout, request: Request, limits: RequestLimits) -> tuple[int, int, int]:
    start_scale = request.start_scale or 0
    return (start_scale, *resolve_sample_request(layout, limits, request.num_samples, request.height, request.width, start_scale))
