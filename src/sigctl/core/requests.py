"""Limits on requests and their validation, shared by in-process and served requests.

A request is checked whole, before any work (``plan_request``): its mode, seed, options, sizes,
input images and its cost. The cost is a budget on work and memory, not only on sides: the pixels
it sends through the model (images x pixels, frames x pixels, or every super-resolution step) are
bounded per request, and they run in chunks of bounded size, so peak memory does not grow with the
number of images. The same ``RequestLimits`` are published in the served model's config.

Plain Python (no numpy, torch or pydantic) so the serving runtime can import it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

from sigctl.core.noise import MAX_SEED
from sigctl.core.scales import PyramidLayout, check_request_size
from sigctl.errors import RequestError

if TYPE_CHECKING:
    from sigctl.core.model import ModelSpec
    from sigctl.core.stages import Request

MODE_SAMPLE = "sample"
MODE_RECONSTRUCT = "reconstruct"
MODE_PAINT = "paint"
MODE_EDIT = "edit"
MODE_HARMONIZE = "harmonize"
MODE_SUPER_RESOLVE = "super_resolve"
MODE_ANIMATE = "animate"
MODE_STYLE = "style"  # PetsGAN: a content image takes the generated image's place before the patch transfer
MODES = (MODE_SAMPLE, MODE_RECONSTRUCT, MODE_PAINT, MODE_EDIT, MODE_HARMONIZE, MODE_SUPER_RESOLVE, MODE_ANIMATE, MODE_STYLE)
MODES_WITH_IMAGE = (MODE_PAINT, MODE_EDIT, MODE_HARMONIZE, MODE_SUPER_RESOLVE, MODE_STYLE)
MODES_WITH_MASK = (MODE_EDIT, MODE_HARMONIZE)
MODES_WITH_UPSCALE = (MODE_SAMPLE, MODE_ANIMATE, MODE_STYLE)  # modes whose output a learned upsampler may enlarge
UPSCALES = (1, 2, 4)  # the learned upsampler doubles: run 0, 1 or 2 times


@dataclass(frozen=True)
class RequestLimits:
    """Limits that make an absurd or ruinous request fail fast instead of exhausting the machine.

    Attributes:
        min_side: smallest output height or width, px.
        max_pixels: largest height x width of one output image or one input image, px.
        max_aspect_ratio: largest longer side / shorter side of an output or input image.
        max_samples: most images in one request.
        max_frames: most frames in one animation.
        max_request_pixels: work budget: most pixels one request sends through the model at the output
            size (images x height x width; frames for animate; every step's size for super-resolution).
        max_chunk_pixels: memory budget per batch: images run through the model together, as one
            batch, until their output pixels reach this (always at least one image). The finest
            stage is the largest, so a batch's peak memory is about this x the widest layer's
            channels x 4 bytes x the few tensors alive at once (README, "Limits").
        max_mask_dilation: largest mask growth for edit/harmonize, px.
        max_mask_blur: largest mask softening for edit/harmonize, px.
        max_quantize_colors: most palette colours for paint.
        max_sr_factor: largest super-resolution factor.
    """

    min_side: int = 16
    max_pixels: int = 2048 * 2048
    max_aspect_ratio: float = 8.0
    max_samples: int = 64
    max_frames: int = 240
    max_request_pixels: int = 4 * 2048 * 2048
    max_chunk_pixels: int = 1024 * 1024
    max_mask_dilation: int = 64
    max_mask_blur: int = 32
    max_quantize_colors: int = 32
    max_sr_factor: float = 16.0

    def as_dict(self) -> dict[str, int | float]:
        return asdict(self)




@dataclass(frozen=True)
class RequestPlan:
    """A checked request with every default resolved: what runs, at which size, in which chunks.

    Attributes:
        height, width: output size, px.
        start_scale: the scale fresh noise (or the injected image) enters at.
        count: images in the answer (frames, for animate).
        chunk: images run through the model together.
        step_sizes: super-resolution only: the size after each step, the last being the output.
        work_pixels: what the request costs against ``max_request_pixels``.
        upscale: the stages run at (height, width) / upscale, then the learned x2 upsampler
            log2(upscale) times (1: no upsampler).
    """

    height: int
    width: int
    start_scale: int
    count: int
    chunk: int
    step_sizes: tuple[tuple[int, int], ...] = ()
    work_pixels: int = 0
    upscale: int = 1

    @property
    def generated_size(self) -> tuple[int, int]:
        """The size the model's stages produce, before the upsampler."""
        return self.height // self.upscale, self.width // self.upscale


def upsampler_runs(upscale: int) -> int:
    """How many times the learned x2 upsampler runs for an upscale of 1, 2 or 4."""
    return int(upscale).bit_length() - 1


def plan_request(spec: ModelSpec, limits: RequestLimits, request: Request) -> RequestPlan:
    """Check a whole request against a model and limits before any work and resolve its defaults;
    raises RequestError naming the problem."""
    mode, layout = request.mode, spec.layout
    if mode not in MODES:
        raise RequestError(f"MODE {mode!r} is not supported; use one of {', '.join(MODES)}")
    check_mode(spec, mode)
    check_seed(request.seed, request.num_samples)
    upscale = check_upscale(spec, request)
    if mode == MODE_RECONSTRUCT:
        height, width = layout.finest_size
        return RequestPlan(height, width, layout.num_scales - 1, 1, 1, work_pixels=height * width)
    if mode == MODE_SUPER_RESOLVE:
        return _plan_super_resolution(layout, limits, request, spec.super_resolution_factor)
    if mode == MODE_ANIMATE:
        _check_animation(limits, request)
        count = request.frames
    else:
        check_count(limits, request.num_samples)
        count = request.num_samples
    if mode in MODES_WITH_MASK:
        _check_between("mask dilation", request.mask_dilation, 0, limits.max_mask_dilation, "px")
        _check_between("mask blur", request.mask_blur, 0, limits.max_mask_blur, "px")
    if mode == MODE_PAINT and request.quantize_colors and not 2 <= request.quantize_colors <= limits.max_quantize_colors:
        raise RequestError(f"quantize colours must be between 2 and {limits.max_quantize_colors} (0 = off), got {request.quantize_colors}")
    start_scale = default_start_scale(mode, layout.num_scales, spec.injection) if request.start_scale is None else request.start_scale
    height = layout.finest_size[0] * upscale if request.height is None else request.height
    width = layout.finest_size[1] * upscale if request.width is None else request.width
    if mode == MODE_STYLE:
        check_input_image(limits, request.image, "IMAGE")
        height, width = _style_size(layout, request, upscale)
        if start_scale != 1:
            raise RequestError(f"style transfer puts the content image in place of the first stage's output: use start scale 1, got {start_scale}")
    check_output_size(limits, height, width)
    if upscale > 1:
        _check_upscaled_size(limits, height, width, upscale)
    check_start_scale(layout, start_scale)
    if mode in MODES_WITH_IMAGE:
        if spec.injection == "first_noise" and start_scale != 0:
            raise RequestError(
                f"the {spec.recipe} model takes an injected image at its first stage only (later stages carry features, "
                f"not RGB): use start scale 0, got {start_scale}"
            )
        check_input_image(limits, request.image, "IMAGE")
    if mode in MODES_WITH_MASK:
        check_input_mask(request.mask, request.image.shape[:2])
    # The stages' pixels, then each upsampler run's output (upscale 4: 1/16 + 1/4 + 1 of the output).
    work = count * sum((height // upscale * 2**k) * (width // upscale * 2**k) for k in range(upsampler_runs(upscale) + 1))
    check_work(limits, work, f"{count} {'frames' if mode == MODE_ANIMATE else 'images'} of {height}x{width}")
    return RequestPlan(height, width, start_scale, count, chunk_size(limits, height * width, count), work_pixels=work, upscale=upscale)


def check_upscale(spec: ModelSpec, request: Request) -> int:
    """UPSCALE: 1, or 2 / 4 on a model with a learned upsampler, in a mode it enlarges."""
    upscale = request.upscale
    if isinstance(upscale, bool) or not isinstance(upscale, int) or upscale not in UPSCALES:
        raise RequestError(f"UPSCALE must be one of {', '.join(map(str, UPSCALES))} (the learned x2 upsampler runs 0, 1 or 2 times), got {upscale!r}")
    if upscale == 1:
        return 1
    if spec.upsampler_graph() is None:
        raise RequestError(
            f"the {spec.recipe} model has no learned upsampler; UPSCALE {upscale} needs a PetsGAN model trained with its upsampler phase "
            f"(optimizer.upsampler_iterations > 0; artifacts from before it have none), or ask for HEIGHT/WIDTH alone (a larger scene, not a sharper one)"
        )
    if request.mode not in MODES_WITH_UPSCALE:
        raise RequestError(f"UPSCALE applies to {', '.join(MODES_WITH_UPSCALE)} requests, not {request.mode}; leave it at 1")
    return upscale


def _check_upscaled_size(limits: RequestLimits, height: int, width: int, upscale: int) -> None:
    """The output must be upscale x the generated size exactly, and the generated size a valid one."""
    if height % upscale or width % upscale:
        nearest = tuple(max(upscale, round(side / upscale) * upscale) for side in (height, width))
        raise RequestError(
            f"size {height}x{width} is not a multiple of UPSCALE {upscale} (the model generates at the size / {upscale}, "
            f"then its upsampler doubles it): ask for {nearest[0]}x{nearest[1]}"
        )
    generated = (height // upscale, width // upscale)
    if min(generated) < limits.min_side:
        raise RequestError(
            f"size {height}x{width} with UPSCALE {upscale} generates {generated[0]}x{generated[1]}, under the smallest side "
            f"{limits.min_side} px: ask for at least {limits.min_side * upscale} px a side, or a smaller UPSCALE"
        )


def check_mode(spec: ModelSpec, mode: str) -> None:
    """A model answers only the modes it lists; say which it has."""
    if mode in spec.modes:
        return
    hint = ""
    if mode == MODE_SUPER_RESOLVE and spec.model_class == "singan":
        hint = "; train one for super-resolution with 'sigctl train IMAGE --factor F'"
    raise RequestError(f"the {spec.recipe} model does not answer {mode} requests; it answers {', '.join(spec.modes)}{hint}")


def default_start_scale(mode: str, num_scales: int, injection: str = "state") -> int:
    """Paint: one above the coarsest (the paper's choice); edit/harmonize: the middle scale; else 0.
    Models that take an injected image in place of the first stage's noise start at 0."""
    if mode == MODE_STYLE:
        return 1
    if injection == "first_noise":
        return 0
    if mode == MODE_PAINT:
        return min(1, num_scales - 1)
    if mode in MODES_WITH_MASK:
        return num_scales // 2
    return 0


def chunk_size(limits: RequestLimits, pixels_per_image: int, count: int) -> int:
    """Images run together: all ``count`` when they fit in ``max_chunk_pixels``, else as many as fit
    (at least 1). One batch fills a GPU; a fixed small batch would leave it idle."""
    return max(1, min(count, limits.max_chunk_pixels // max(1, pixels_per_image)))


def check_output_size(limits: RequestLimits, height: int, width: int) -> None:
    check_request_size(height, width, limits.min_side, limits.max_pixels)
    check_aspect_ratio(limits, height, width, "size")


def check_aspect_ratio(limits: RequestLimits, height: int, width: int, what: str) -> None:
    if max(height, width) > limits.max_aspect_ratio * min(height, width):
        raise RequestError(
            f"{what} {height}x{width} is too elongated: the longer side may be at most {limits.max_aspect_ratio:g} x the shorter"
        )


def check_work(limits: RequestLimits, work_pixels: int, what: str) -> None:
    if work_pixels > limits.max_request_pixels:
        raise RequestError(
            f"this request is over budget: {what} send {work_pixels} px through the model, at most {limits.max_request_pixels} px "
            f"per request (max_request_pixels); ask for fewer or smaller images, or split it into several requests"
        )


def check_input_image(limits: RequestLimits, image, name: str) -> None:
    """An injected image: H x W x 3 uint8, within max_pixels and the aspect-ratio bound."""
    if image is None:
        raise RequestError(f"this mode needs an input image ({name}, H x W x 3 uint8)")
    shape = tuple(getattr(image, "shape", ()))
    if str(getattr(image, "dtype", "")) != "uint8" or len(shape) != 3 or shape[2] != 3:
        raise RequestError(f"{name} must be an H x W x 3 uint8 RGB image, got {getattr(image, 'dtype', type(image).__name__)} {list(shape)}")
    height, width = shape[:2]
    if min(height, width) < 1:
        raise RequestError(f"{name} is empty ({height}x{width})")
    if height * width > limits.max_pixels:
        raise RequestError(f"{name} is {height}x{width}; at most {limits.max_pixels} px are accepted: downscale it first")
    check_aspect_ratio(limits, height, width, name)


def check_input_mask(mask, image_size: tuple[int, int]) -> None:
    """A mask: H x W uint8 of exactly the image's size, marking something (> 127)."""
    if mask is None:
        raise RequestError("this mode needs a mask (MASK, H x W uint8, > 127 marks the region to regenerate)")
    shape = tuple(getattr(mask, "shape", ()))
    if str(getattr(mask, "dtype", "")) != "uint8" or len(shape) != 2:
        raise RequestError(f"MASK must be an H x W uint8 array, got {getattr(mask, 'dtype', type(mask).__name__)} {list(shape)}")
    if shape != tuple(image_size):
        raise RequestError(f"the mask is {shape[0]}x{shape[1]} but the image is {image_size[0]}x{image_size[1]}; they must match")
    if not mask.max() > 127:
        raise RequestError("the mask marks nothing (no value above 127); white marks the region to regenerate")


def _plan_super_resolution(layout: PyramidLayout, limits: RequestLimits, request: Request, trained_factor: float | None) -> RequestPlan:
    if trained_factor is None:
        raise RequestError("this model was not trained for super-resolution; train one with 'sigctl train IMAGE --factor F'")
    factor = request.sr_factor or trained_factor
    if not 1.0 < factor <= limits.max_sr_factor:
        raise RequestError(f"super-resolution factor must be in (1, {limits.max_sr_factor:g}], got {factor:g}")
    check_count(limits, request.num_samples)
    check_input_image(limits, request.image, "IMAGE")
    height, width = request.image.shape[:2]
    target = (round(height * factor), round(width * factor))
    check_output_size(limits, *target)
    steps = max(1, round(math.log(factor) / math.log(layout.scale_factor)))
    step = layout.scale_factor
    sizes = tuple(target if k == steps else (round(height * step**k), round(width * step**k)) for k in range(1, steps + 1))
    work = request.num_samples * sum(h * w for h, w in sizes)
    check_work(limits, work, f"{request.num_samples} x{factor:g} super-resolutions of {height}x{width} in {steps} steps")
    return RequestPlan(*target, layout.num_scales - 1, request.num_samples, chunk_size(limits, target[0] * target[1], request.num_samples), sizes, work)


def _style_size(layout: PyramidLayout, request: Request, upscale: int = 1) -> tuple[int, int]:
    """Style transfer's output: HEIGHT x WIDTH where given, else the content image's aspect ratio with
    the training image's longer side x ``upscale`` (a side given alone keeps the aspect too). Sides
    made from the aspect are rounded to multiples of ``upscale``."""
    content_height, content_width = request.image.shape[:2]

    def side(value: float) -> int:
        return max(upscale, round(value / upscale) * upscale)

    if request.height is not None and request.width is not None:
        return request.height, request.width
    if request.height is not None:
        return request.height, side(request.height * content_width / content_height)
    if request.width is not None:
        return side(request.width * content_height / content_width), request.width
    longer = max(layout.finest_size) * upscale
    scale = longer / max(content_height, content_width)
    return side(content_height * scale), side(content_width * scale)


def _check_animation(limits: RequestLimits, request: Request) -> None:
    if not 2 <= request.frames <= limits.max_frames:
        raise RequestError(f"frames must be between 2 and {limits.max_frames}, got {request.frames}")
    _check_between("walk strength", request.walk_strength, 0.0, 1.0)
    _check_between("anchor", request.anchor, 0.0, 1.0)


def _check_between(name: str, value, low, high, unit: str = "") -> None:
    # Written so that NaN fails too.
    if not low <= value <= high:
        raise RequestError(f"{name} must be between {low:g} and {high:g}{' ' + unit if unit else ''}, got {value:g}")


def check_count(limits: RequestLimits, num_samples: int) -> None:
    if not 1 <= num_samples <= limits.max_samples:
        raise RequestError(f"number of samples must be between 1 and {limits.max_samples}, got {num_samples}")


def check_seed(seed: int, num_samples: int) -> None:
    """Outputs use seeds seed .. seed + num_samples - 1, all of which must be valid noise seeds."""
    if not 0 <= seed <= MAX_SEED - max(1, num_samples):
        raise RequestError(f"seed must be between 0 and 2**63 - 1 - number of outputs, got {seed}")


def check_start_scale(layout: PyramidLayout, start_scale: int) -> None:
    if not 0 <= start_scale < layout.num_scales:
        raise RequestError(f"start scale {start_scale} is out of range: this pyramid has scales 0..{layout.num_scales - 1}")
