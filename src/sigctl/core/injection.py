"""Paint-to-image, editing and harmonization: an image injected into the pyramid at a scale.

The image is brought to the output size, downsampled to the scale below the start scale (as the
paper does: only its coarse structure survives), and the pyramid runs from the start scale with
fresh noise. Editing and harmonization then blend the result back through the (dilated, blurred)
mask, so pixels away from the mask are the input's exactly.

Size rule: the output is the training size unless HEIGHT/WIDTH are given; the injected image (and
mask) are resized to the output size, aspect ratio included.
"""

from __future__ import annotations

import numpy as np

from sigctl.core import masks
from sigctl.core.operations import MODE_PAINT, Executor, Request, run_seeded
from sigctl.core.pixels import resize, resize_uint8, to_network, to_uint8
from sigctl.core.requests import RequestLimits, resolve_sample_request
from sigctl.core.scales import PyramidLayout, request_sizes
from sigctl.errors import RequestError


def default_start_scale(mode: str, num_scales: int) -> int:
    """Paint: one above the coarsest (the paper's choice); edit/harmonize: the middle scale."""
    return min(1, num_scales - 1) if mode == MODE_PAINT else num_scales // 2


def checked_request(layout: PyramidLayout, request: Request, limits: RequestLimits) -> tuple[int, int, int]:
    """(start scale, height, width) of an injection request; raises for anything ``inject`` refuses."""
    image = checked_image(request.image, "IMAGE", limits)
    start_scale = default_start_scale(request.mode, layout.num_scales) if request.start_scale is None else request.start_scale
    height, width = resolve_sample_request(layout, limits, request.num_samples, request.height, request.width, start_scale)
    if request.mode != MODE_PAINT:
        checked_mask(request.mask, image.shape[:2])
    elif request.quantize_colors and not 2 <= request.quantize_colors <= 32:
        raise RequestError(f"quantize colours must be between 2 and 32 (0 = off), got {request.quantize_colors}")
    return start_scale, height, width


def inject(executor: Executor, request: Request, limits: RequestLimits) -> np.ndarray:
    layout = executor.layout
    start_scale, height, width = checked_request(layout, request, limits)
    soft = None
    if request.mode != MODE_PAINT:
        soft = masks.soft_mask(request.mask, height, width, request.mask_dilation, request.mask_blur)
    injected = resize_uint8(request.image, height, width)
    if request.mode == MODE_PAINT and request.quantize_colors:
        injected = masks.quantize(injected, masks.palette(executor.reference(), request.quantize_colors))

    sizes = request_sizes(layout, height, width)
    entering = resize(to_network(injected), *sizes[max(0, start_scale - 1)])[None]
    generated = to_uint8(run_seeded(executor, start_scale, entering, sizes, request.seed, request.num_samples))
    if soft is None:
        return generated
    weight = soft[None, :, :, None]
    blended = weight * generated.astype(np.float32) + (1.0 - weight) * injected[None].astype(np.float32)
    return np.round(blended).astype(np.uint8)


def checked_image(image: np.ndarray | None, name: str, limits: RequestLimits) -> np.ndarray:
    if image is None:
        raise RequestError(f"this mode needs an input image ({name}, H x W x 3 uint8)")
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise RequestError(f"{name} must be an H x W x 3 uint8 RGB image, got {image.dtype} {list(image.shape)}")
    if min(image.shape[:2]) < 1 or image.shape[0] * image.shape[1] > limits.max_pixels:
        raise RequestError(f"{name} is {image.shape[0]}x{image.shape[1]}; at most {limits.max_pixels} px are accepted")
    return image


def checked_mask(mask: np.ndarray | None, image_size: tuple[int, int]) -> np.ndarray:
    if mask is None:
        raise RequestError("this mode needs a mask (MASK, H x W uint8, > 127 marks the region to regenerate)")
    if mask.dtype != np.uint8 or mask.ndim != 2:
        raise RequestError(f"MASK must be an H x W uint8 array, got {mask.dtype} {list(mask.shape)}")
    if mask.shape != image_size:
        raise RequestError(f"the mask is {mask.shape[0]}x{mask.shape[1]} but the image is {image_size[0]}x{image_size[1]}; they must match")
    if not (mask > 127).any():
        raise RequestError("the mask marks nothing (no value above 127); white marks the region to regenerate")
    return mask
