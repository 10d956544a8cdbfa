"""The served model's request contract: tensor names, types, defaults and validation.

One source for the Triton config (export), the python-backend model (validation) and the client
(building requests). numpy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sigctl.errors import RequestError

SEED = "SEED"
NUM_SAMPLES = "NUM_SAMPLES"
HEIGHT = "HEIGHT"
WIDTH = "WIDTH"
START_SCALE = "START_SCALE"
MODE = "MODE"
IMAGES = "IMAGES"

MODE_SAMPLE = "sample"
MODE_RECONSTRUCT = "reconstruct"
SUPPORTED_MODES = (MODE_SAMPLE, MODE_RECONSTRUCT)


@dataclass(frozen=True)
class TensorSpec:
    name: str
    triton_type: str  # as in config.pbtxt, e.g. TYPE_INT64
    numpy_type: type
    dims: tuple[int, ...]
    required: bool
    description: str


INPUTS = (
    TensorSpec(SEED, "TYPE_INT64", np.int64, (1,), True, "seed of the first sample; sample i uses SEED + i"),
    TensorSpec(NUM_SAMPLES, "TYPE_INT32", np.int32, (1,), False, "number of images (default 1)"),
    TensorSpec(HEIGHT, "TYPE_INT32", np.int32, (1,), False, "output height, px (default: training height)"),
    TensorSpec(WIDTH, "TYPE_INT32", np.int32, (1,), False, "output width, px (default: training width)"),
    TensorSpec(START_SCALE, "TYPE_INT32", np.int32, (1,), False, "first scale with fresh noise (default 0)"),
    TensorSpec(MODE, "TYPE_STRING", np.object_, (1,), False, "sample (default) or reconstruct"),
)
def wire_type(spec: TensorSpec) -> str:
    """The datatype name the Triton clients use (INT64, BYTES, ...) for a config type (TYPE_...)."""
    return "BYTES" if spec.triton_type == "TYPE_STRING" else spec.triton_type.removeprefix("TYPE_")


OUTPUTS = (TensorSpec(IMAGES, "TYPE_UINT8", np.uint8, (-1, -1, -1, 3), True, "N x H x W x 3 RGB images"),)
INPUTS_BY_NAME = {spec.name: spec for spec in INPUTS}


@dataclass(frozen=True)
class Request:
    """A validated request (sizes still to be checked against the model's limits)."""

    mode: str
    seed: int
    num_samples: int
    height: int | None
    width: int | None
    start_scale: int


def parse_request(tensors: dict[str, np.ndarray]) -> Request:
    """Check names, types and shapes of the given input tensors and fill in defaults.

    Triton checks types for declared inputs, but it lets a missing input through even when the
    config calls it required, and the same check guards in-process callers.
    """
    unknown = sorted(set(tensors) - set(INPUTS_BY_NAME))
    if unknown:
        raise RequestError(f"unknown input(s) {unknown}; this model takes {sorted(INPUTS_BY_NAME)}")
    for spec in INPUTS:
        if spec.required and spec.name not in tensors:
            raise RequestError(f"input {spec.name} is required ({spec.description})")
    mode = _text(tensors, MODE, MODE_SAMPLE)
    if mode not in SUPPORTED_MODES:
        raise RequestError(f"MODE {mode!r} is not supported; use one of {', '.join(SUPPORTED_MODES)}")
    return Request(
        mode=mode,
        seed=_scalar(tensors, SEED, 0),
        num_samples=_scalar(tensors, NUM_SAMPLES, 1),
        height=_scalar(tensors, HEIGHT, None),
        width=_scalar(tensors, WIDTH, None),
        start_scale=_scalar(tensors, START_SCALE, 0),
    )


def build_inputs(mode: str = MODE_SAMPLE, seed: int = 0, num_samples: int = 1, height: int | None = None,
                 width: int | None = None, start_scale: int = 0) -> dict[str, np.ndarray]:
    """The input tensors for a request, leaving optional ones out when they hold their default."""
    tensors = {SEED: np.array([seed], np.int64), NUM_SAMPLES: np.array([num_samples], np.int32),
               START_SCALE: np.array([start_scale], np.int32), MODE: np.array([mode.encode()], np.object_)}
    if height is not None:
        tensors[HEIGHT] = np.array([height], np.int32)
    if width is not None:
        tensors[WIDTH] = np.array([width], np.int32)
    return tensors


def _checked(tensors: dict[str, np.ndarray], name: str) -> np.ndarray:
    spec = INPUTS_BY_NAME[name]
    value = np.asarray(tensors[name])
    if value.shape != spec.dims:
        raise RequestError(f"input {name} must have shape {list(spec.dims)}, got {list(value.shape)}")
    if spec.numpy_type is np.object_:
        if value.dtype != np.object_ and value.dtype.kind not in "SU":
            raise RequestError(f"input {name} must be BYTES, got {value.dtype}")
    elif value.dtype != spec.numpy_type:
        raise RequestError(f"input {name} must be {np.dtype(spec.numpy_type).name}, got {value.dtype}")
    return value


def _scalar(tensors, name, default):
    if name not in tensors:
        return default
    return int(_checked(tensors, name)[0])


def _text(tensors, name, default):
    if name not in tensors:
        return default
    raw = _checked(tensors, name)[0]
    try:
        return raw.decode() if isinstance(raw, bytes) else str(raw)
    except UnicodeDecodeError:
        raise RequestError(f"input {name} is not UTF-8 text") from None
