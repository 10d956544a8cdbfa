"""The served model's request contract: tensors <-> ``sigctl.core.operations.Request``.

One source for the Triton config (export), the python-backend model (validation) and the client
(building requests). numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigctl.core.requests import MODES
from sigctl.core.stages import Request
from sigctl.errors import RequestError

SEED = "SEED"
NUM_SAMPLES = "NUM_SAMPLES"
HEIGHT = "HEIGHT"
WIDTH = "WIDTH"
START_SCALE = "START_SCALE"
MODE = "MODE"
IMAGE = "IMAGE"
MASK = "MASK"
QUANTIZE = "QUANTIZE"
MASK_DILATION = "MASK_DILATION"
MASK_BLUR = "MASK_BLUR"
SR_FACTOR = "SR_FACTOR"
FRAMES = "FRAMES"
WALK_STRENGTH = "WALK_STRENGTH"
ANCHOR = "ANCHOR"
UPSCALE = "UPSCALE"
IMAGES = "IMAGES"


@dataclass(frozen=True)
class TensorSpec:
    name: str
    triton_type: str  # as in config.pbtxt, e.g. TYPE_INT64
    numpy_type: type
    dims: tuple[int, ...]
    required: bool
    field: str  # the Request field it fills
    description: str


INPUTS = (
    TensorSpec(SEED, "TYPE_INT64", np.int64, (1,), True, "seed", "seed of the first image; image i uses SEED + i"),
    TensorSpec(NUM_SAMPLES, "TYPE_INT32", np.int32, (1,), False, "num_samples", "number of images (default 1)"),
    TensorSpec(HEIGHT, "TYPE_INT32", np.int32, (1,), False, "height", "output height, px (default: training height)"),
    TensorSpec(WIDTH, "TYPE_INT32", np.int32, (1,), False, "width", "output width, px (default: training width)"),
    TensorSpec(START_SCALE, "TYPE_INT32", np.int32, (1,), False, "start_scale", "first scale with fresh noise (default per mode)"),
    TensorSpec(MODE, "TYPE_STRING", np.object_, (1,), False, "mode", f"one of {', '.join(MODES)} (default sample)"),
    TensorSpec(IMAGE, "TYPE_UINT8", np.uint8, (-1, -1, 3), False, "image", "injected image, H x W x 3 RGB (paint, edit, harmonize, super_resolve)"),
    TensorSpec(MASK, "TYPE_UINT8", np.uint8, (-1, -1), False, "mask", "H x W, > 127 marks the region to regenerate (edit, harmonize)"),
    TensorSpec(QUANTIZE, "TYPE_INT32", np.int32, (1,), False, "quantize_colors", "paint: map to this many colours of the training image (0 off)"),
    TensorSpec(MASK_DILATION, "TYPE_INT32", np.int32, (1,), False, "mask_dilation", "edit/harmonize: grow the mask by this many px (default 5)"),
    TensorSpec(MASK_BLUR, "TYPE_INT32", np.int32, (1,), False, "mask_blur", "edit/harmonize: soften the mask edge over about this many px (default 5)"),
    TensorSpec(SR_FACTOR, "TYPE_FP32", np.float32, (1,), False, "sr_factor", "super_resolve: upscaling factor (default: the trained one)"),
    TensorSpec(FRAMES, "TYPE_INT32", np.int32, (1,), False, "frames", "animate: number of frames (default 30)"),
    TensorSpec(WALK_STRENGTH, "TYPE_FP32", np.float32, (1,), False, "walk_strength", "animate: share of fresh noise per frame (default 0.1)"),
    TensorSpec(ANCHOR, "TYPE_FP32", np.float32, (1,), False, "anchor", "animate: pull towards the reconstruction per frame (default 0.1)"),
    TensorSpec(UPSCALE, "TYPE_INT32", np.int32, (1,), False, "upscale", "sample/animate/style: 2 or 4 runs the learned upsampler on size / UPSCALE (default 1)"),
)
OUTPUTS = (TensorSpec(IMAGES, "TYPE_UINT8", np.uint8, (-1, -1, -1, 3), True, "", "N x H x W x 3 RGB images (frames for animate)"),)
INPUTS_BY_NAME = {spec.name: spec for spec in INPUTS}
_ARRAY_INPUTS = (IMAGE, MASK)


def wire_type(spec: TensorSpec) -> str:
    """The datatype name the Triton clients use (INT64, BYTES, ...) for a config type (TYPE_...)."""
    return "BYTES" if spec.triton_type == "TYPE_STRING" else spec.triton_type.removeprefix("TYPE_")


def parse_request(tensors: dict[str, np.ndarray]) -> Request:
    """Check names, types and shapes of the given input tensors; absent ones keep their defaults.

    Triton checks types for declared inputs, but it lets a missing input through even when the
    config calls it required, and the same check guards in-process callers.
    """
    unknown = sorted(set(tensors) - set(INPUTS_BY_NAME))
    if unknown:
        raise RequestError(f"unknown input(s) {unknown}; this model takes {sorted(INPUTS_BY_NAME)}")
    values = {}
    for spec in INPUTS:
        if spec.name not in tensors:
            if spec.required:
                raise RequestError(f"input {spec.name} is required ({spec.description})")
            continue
        value = _checked(tensors, spec.name)
        if spec.name in _ARRAY_INPUTS:
            values[spec.field] = value
        elif spec.name == MODE:
            values[spec.field] = _text(value, spec.name)
        elif spec.numpy_type is np.float32:
            values[spec.field] = float(value[0])
        else:
            values[spec.field] = int(value[0])
    return Request(**values)


def build_inputs(request: Request) -> dict[str, np.ndarray]:
    """The input tensors for a request; fields at their default are left out."""
    defaults = Request()
    tensors = {SEED: _integer(INPUTS_BY_NAME[SEED], request.seed)}
    for spec in INPUTS:
        value = getattr(request, spec.field)
        if spec.name == SEED or value is None or (spec.name not in _ARRAY_INPUTS and value == getattr(defaults, spec.field)):
            continue
        if spec.name == MODE:
            tensors[MODE] = np.array([value.encode()], np.object_)
        elif spec.name in _ARRAY_INPUTS:
            if np.asarray(value).dtype != np.uint8:
                # Casting would silently wrap or truncate (a float image in [0, 1] becomes black).
                raise RequestError(f"{spec.name} must be uint8 ({spec.description}), got {np.asarray(value).dtype}")
            tensors[spec.name] = np.ascontiguousarray(value)
        elif spec.numpy_type is np.float32:
            tensors[spec.name] = np.array([value], np.float32)
        else:
            tensors[spec.name] = _integer(spec, value)
    return tensors


def _integer(spec: TensorSpec, value: int) -> np.ndarray:
    # numpy raises OverflowError for a Python int outside the type: say which input and what fits.
    bounds = np.iinfo(spec.numpy_type)
    if not bounds.min <= value <= bounds.max:
        raise RequestError(f"{spec.name} {value} does not fit its type {np.dtype(spec.numpy_type).name} ({spec.description})")
    return np.array([value], spec.numpy_type)


def _checked(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    spec = INPUTS_BY_NAME[name]
    value = np.asarray(tensors[name])
    shape_ok = len(value.shape) == len(spec.dims) and all(d == -1 or d == s for d, s in zip(spec.dims, value.shape))
    if not shape_ok:
        raise RequestError(f"input {name} must have shape {list(spec.dims)} (-1: any), got {list(value.shape)}")
    if spec.numpy_type is np.object_:
        if value.dtype != np.object_ and value.dtype.kind not in "SU":
            raise RequestError(f"input {name} must be BYTES, got {value.dtype}")
    elif value.dtype != spec.numpy_type:
        raise RequestError(f"input {name} must be {np.dtype(spec.numpy_type).name}, got {value.dtype}")
    return value


def _text(value: np.ndarray, name: str) -> str:
    raw = value[0]
    try:
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        raise RequestError(f"input {name} is not UTF-8 text") from None
