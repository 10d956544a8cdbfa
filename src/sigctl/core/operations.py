"""Every request a model answers: check it whole, then hand it to its mode's module.

The top of the request path (see ``sigctl.core.stages``): this module imports the mode modules,
none of them imports it back. numpy only: the serving runtime imports this module.
"""

from __future__ import annotations

import numpy as np

from sigctl.core import animation, injection, sampling, super_resolution
from sigctl.core.pixels import to_uint8
from sigctl.core.requests import (  # noqa: F401  (the mode names are part of this module's interface)
    MODE_ANIMATE,
    MODE_EDIT,
    MODE_HARMONIZE,
    MODE_PAINT,
    MODE_RECONSTRUCT,
    MODE_SAMPLE,
    MODE_STYLE,
    MODE_SUPER_RESOLVE,
    MODES,
    RequestLimits,
    plan_request,
)
from sigctl.core.stages import Cancelled, Executor, Request, never_cancelled  # noqa: F401  (Request: part of the interface)
from sigctl.errors import RequestError


def execute(executor: Executor, request: Request, limits: RequestLimits = RequestLimits(), cancelled: Cancelled | None = None) -> np.ndarray:
    """Answer ``request`` with NxHxWx3 uint8 images (frames, for animate).

    The whole request is checked against the model's spec and ``limits`` before any work. Work runs
    in chunks of images and one stage at a time; ``cancelled`` is asked before each, so a request
    nobody waits for stops.
    """
    plan = plan_request(executor.spec, limits, request)
    cancelled = cancelled or never_cancelled
    try:
        if request.mode == MODE_RECONSTRUCT:
            return to_uint8(executor.reconstruction())
        if request.mode == MODE_SAMPLE:
            return sampling.sample(executor, request, plan, cancelled)
        if request.mode in (MODE_PAINT, MODE_EDIT, MODE_HARMONIZE, MODE_STYLE):
            return injection.inject(executor, request, plan, cancelled)
        if request.mode == MODE_SUPER_RESOLVE:
            return super_resolution.super_resolve(executor, request, plan, cancelled)
        return animation.animate(executor, request, plan, cancelled)
    except MemoryError:
        raise RequestError(
            f"not enough memory to answer this request ({plan.count} x {plan.height}x{plan.width}, "
            f"{plan.chunk} at a time); ask for fewer or smaller images"
        ) from None


def sample_float(executor: Executor, request: Request, limits: RequestLimits = RequestLimits()) -> np.ndarray:
    """Random samples as Nx3xHxW float32 in [-1, 1] (for parity checks)."""
    plan = plan_request(executor.spec, limits, request)
    return np.concatenate([chunk for _, chunk in sampling.sample_chunks(executor, request, plan, never_cancelled)])
