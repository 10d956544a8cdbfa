"""Paint-to-image, editing and harmonization: an image injected into the pyramid at a scale.

The image is brought to the output size, downsampled to the scale below the start scale (as the
paper does: only its coarse structure survives), and the pyramid runs from the start scale with
fresh noise. Editing and harmonization then blend the result back through the (dilated, blurred)
mask, so pixels away from the mask are the input's exactly.

Size rule: the output is the training size unless HEIGHT/WIDTH are given; the injected image (and
mask) are resized to the output size, aspect ratio included. Inputs are checked by
``sigctl.core.requests.plan_request`` before this runs.
"""

from __future__ import annotations

import numpy as np

from sigctl.core import masks
from sigctl.core.operations import MODE_PAINT, Cancelled, Executor, Request, seeded_chunks, stop_if_cancelled
from sigctl.core.pixels import resize, resize_uint8, to_network, to_uint8
from sigctl.core.requests import RequestPlan, default_start_scale  # noqa: F401  (default_start_scale: re-exported)
from sigctl.core.scales import request_sizes


def inject(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    height, width, start_scale = plan.height, plan.width, plan.start_scale
    weight = None
    if request.mode != MODE_PAINT:
        soft = masks.soft_mask(request.mask, height, width, request.mask_dilation, request.mask_blur)
        weight = soft[None, :, :, None]
    injected = resize_uint8(request.image, height, width)
    if request.mode == MODE_PAINT and request.quantize_colors:
        injected = masks.quantize(injected, masks.palette(executor.reference(), request.quantize_colors))
    stop_if_cancelled(cancelled)

    sizes = request_sizes(executor.layout, height, width)
    entering = resize(to_network(injected), *sizes[max(0, start_scale - 1)])[None]
    images = np.empty((plan.count, height, width, 3), np.uint8)
    for first, chunk in seeded_chunks(executor, start_scale, entering, sizes, request.seed, plan.count, plan.chunk, cancelled):
        generated = to_uint8(chunk)
        if weight is not None:
            blended = weight * generated.astype(np.float32) + (1.0 - weight) * injected[None].astype(np.float32)
            generated = np.round(blended).astype(np.uint8)
        images[first : first + len(generated)] = generated
    return images
