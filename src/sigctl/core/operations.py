"""Every request a pyramid answers, written once against an ``Executor``.

An executor runs generator scales (PyTorch in process, onnxruntime when served); everything
else (noise, sizes, injected images, masks, super-resolution steps, animation walks) happens
here in numpy, so in-process and served results can only differ by the convolutions' float
rounding. numpy only: the serving runtime imports this module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from sigctl.core.noise import scale_noise
from sigctl.core.pixels import to_uint8
from sigctl.core.requests import (  # noqa: F401  (the mode names are part of this module's interface)
    MODE_ANIMATE,
    MODE_EDIT,
    MODE_HARMONIZE,
    MODE_PAINT,
    MODE_RECONSTRUCT,
    MODE_SAMPLE,
    MODE_SUPER_RESOLVE,
    MODES,
    RequestLimits,
    RequestPlan,
    plan_request,
)
from sigctl.core.scales import PyramidLayout, request_sizes
from sigctl.errors import RequestCancelled, RequestError

Cancelled = Callable[[], bool]  # True once nobody waits for the answer any more (client gone, deadline passed)


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


def execute(executor: Executor, request: Request, limits: RequestLimits = RequestLimits(), cancelled: Cancelled | None = None) -> np.ndarray:
    """Answer ``request`` with NxHxWx3 uint8 images (frames, for animate).

    The whole request is checked against ``limits`` before any work. Work runs in chunks of images
    and one scale at a time; ``cancelled`` is asked before each, so a request nobody waits for stops.
    """
    plan = plan_request(executor.layout, limits, request, executor.super_resolution_factor)
    cancelled = cancelled or _never
    try:
        if request.mode == MODE_RECONSTRUCT:
            return to_uint8(executor.reconstruction(executor.layout.num_scales - 1))
        if request.mode == MODE_SAMPLE:
            return sample(executor, request, plan, cancelled)
        # Imported here: each manipulation module is small and only needed for its mode.
        if request.mode in (MODE_PAINT, MODE_EDIT, MODE_HARMONIZE):
            from sigctl.core import injection

            return injection.inject(executor, request, plan, cancelled)
        if request.mode == MODE_SUPER_RESOLVE:
            from sigctl.core import super_resolution

            return super_resolution.super_resolve(executor, request, plan, cancelled)
        from sigctl.core import animation

        return animation.animate(executor, request, plan, cancelled)
    except MemoryError:
        raise RequestError(
            f"not enough memory to answer this request ({plan.count} x {plan.height}x{plan.width}, "
            f"{plan.chunk} at a time); ask for fewer or smaller images"
        ) from None


def sample(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled | None = None) -> np.ndarray:
    """Random samples as NxHxWx3 uint8, converted chunk by chunk (peak memory does not grow with N)."""
    images = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first, chunk in _sample_chunks(executor, request, plan, cancelled or _never):
        images[first : first + len(chunk)] = to_uint8(chunk)
    return images


def sample_float(executor: Executor, request: Request, limits: RequestLimits = RequestLimits()) -> np.ndarray:
    """Random samples as Nx3xHxW float32 in [-1, 1] (for parity checks); scales below the start scale
    follow the reconstruction, stretched to the requested size."""
    plan = plan_request(executor.layout, limits, request, executor.super_resolution_factor)
    return np.concatenate([chunk for _, chunk in _sample_chunks(executor, request, plan, _never)])


def _sample_chunks(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> Iterator[tuple[int, np.ndarray]]:
    sizes = request_sizes(executor.layout, plan.height, plan.width)
    if plan.start_scale == 0:
        entering = np.zeros((1, 3, *sizes[0]), np.float32)
    else:
        entering = executor.reconstruction(plan.start_scale - 1)
    return seeded_chunks(executor, plan.start_scale, entering, sizes, request.seed, plan.count, plan.chunk, cancelled)


def seeded_chunks(
    executor: Executor, start_scale: int, entering: np.ndarray, sizes: list[tuple[int, int]], seed: int, count: int, chunk: int,
    cancelled: Cancelled,
) -> Iterator[tuple[int, np.ndarray]]:
    """(index of the first, Nx3xHxW float32) per chunk of ``count`` samples, seeds seed..seed+count-1.

    ``entering`` (1x3xhxw) is shared by all samples; sample i's noise depends only on seed + i, so the
    chunk size never changes the pixels.
    """
    for first in range(0, count, chunk):
        seeds = range(seed + first, seed + min(first + chunk, count))

        def noise(scale: int, seeds: range = seeds) -> np.ndarray:
            return np.stack([scale_noise(s, scale, *sizes[scale], single_channel=scale == 0) for s in seeds])

        yield first, run_stages(executor, start_scale, np.repeat(entering, len(seeds), axis=0), noise, cancelled)


def run_stages(executor: Executor, start_scale: int, entering: np.ndarray, noise: Callable[[int], np.ndarray], cancelled: Cancelled) -> np.ndarray:
    """Run scales start_scale.. one at a time (``noise(scale)``: that scale's unit noise, made when
    needed), stopping between scales when the request was cancelled."""
    image = entering
    for scale in range(start_scale, executor.layout.num_scales):
        stop_if_cancelled(cancelled)
        image = executor.run_scales(scale, image, [noise(scale)])
    return image


def stop_if_cancelled(cancelled: Cancelled) -> None:
    if cancelled():
        raise RequestCancelled("the request was cancelled (the client went away or its deadline passed); work stopped")


def _never() -> bool:
    return False
