"""Paint-to-image, editing, harmonization and style transfer: an image injected into the model at a stage.

Where the image goes is the model's (``ModelSpec.injection``):

- ``state`` (SinGAN): the image is brought to the output size, downsampled to the stage below the
  start stage (as the paper does: only its coarse structure survives), and the stages run from the
  start stage with fresh noise.
- ``first_noise`` (ConSinGAN): the image, at the first stage's size, replaces the first stage's
  noise, and the stages above take the reconstruction noise, as the reference code does.

Style transfer (PetsGAN) is paint at stage 1: the content image, at the low resolution, replaces
the generator's image and goes through the patch transfer and the restoration.

Editing and harmonization then blend the result back through the (dilated, blurred) mask, so
pixels away from the mask are the input's exactly.

Size rule: the output is the training size unless HEIGHT/WIDTH are given; the injected image (and
mask) are resized to the output size, aspect ratio included. Inputs are checked by
``sigctl.core.requests.plan_request`` before this runs.
"""

from __future__ import annotations

import numpy as np

from sigctl.core import masks
from sigctl.core.pixels import resize, resize_uint8, to_network, to_uint8
from sigctl.core.requests import MODE_PAINT, MODE_STYLE, RequestPlan
from sigctl.core.stages import Cancelled, Executor, Request, seeded_chunks, stage_sizes, stop_if_cancelled


def inject(executor: Executor, request: Request, plan: RequestPlan, cancelled: Cancelled) -> np.ndarray:
    # Style transfer may be upscaled: the content enters at the generated size (the output's otherwise).
    (height, width), start_scale = plan.generated_size, plan.start_scale
    weight = None
    if request.mode not in (MODE_PAINT, MODE_STYLE):
        soft = masks.soft_mask(request.mask, height, width, request.mask_dilation, request.mask_blur)
        weight = soft[None, :, :, None]
    injected = resize_uint8(request.image, height, width)
    if request.mode == MODE_PAINT and request.quantize_colors:
        injected = masks.quantize(injected, masks.palette(executor.reference(), request.quantize_colors))
    stop_if_cancelled(cancelled)

    sizes = stage_sizes(executor, height, width)
    if executor.spec.injection == "first_noise":
        first_noise = resize(to_network(injected), *sizes[0])[None]
        chunks = seeded_chunks(executor, 0, lambda count: executor.first_state(count, sizes[0]), sizes,
                               request.seed, plan.count, plan.chunk, cancelled, first_noise=first_noise)
    else:
        state = resize(to_network(injected), *sizes[max(0, start_scale - 1)])[None]
        chunks = seeded_chunks(executor, start_scale, lambda count: np.repeat(state, count, axis=0), sizes,
                               request.seed, plan.count, plan.chunk, cancelled, upscale=plan.upscale)
    images = np.empty((plan.count, plan.height, plan.width, 3), np.uint8)
    for first, chunk in chunks:
        generated = to_uint8(chunk)
        if weight is not None:
            blended = weight * generated.astype(np.float32) + (1.0 - weight) * injected[None].astype(np.float32)
            generated = np.round(blended).astype(np.uint8)
        images[first : first + len(generated)] = generated
    return images
