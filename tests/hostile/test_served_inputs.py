"""Hostile requests over gRPC against the real server: one table, one assertion set per row.

Each row is raw tensors as a hostile client would send them (wrong types, shapes and ranks,
missing inputs, extreme values of every option, oversize and elongated images, requests over the
work budget, unknown modes). For each: the status is INVALID_ARGUMENT (never INTERNAL or
UNKNOWN), the message names the problem, and the server and every model stay ready and answer.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from sigctl.core.requests import RequestLimits

INT32_MAX = 2**31 - 1
LIMITS = RequestLimits()


def i32(value):
    return np.array([value], np.int32), "INT32"


def i64(value):
    return np.array([value], np.int64), "INT64"


def f32(value):
    return np.array([value], np.float32), "FP32"


def text(value: bytes):
    return np.array([value], np.object_), "BYTES"


def image(height, width, channels=3, dtype=np.uint8, fill=128):
    shape = (height, width) if channels is None else (height, width, channels)
    datatype = {np.uint8: "UINT8", np.float32: "FP32"}[dtype]
    return np.full(shape, fill, dtype), datatype


def mask(height, width, region=True):
    values = np.zeros((height, width), np.uint8)
    if region:
        values[height // 4 : height // 2, width // 4 : width // 2] = 255
    return values, "UINT8"


@dataclass(frozen=True)
class Case:
    name: str
    kind: str  # the class of input, for the report
    tensors: dict
    message: str  # a regex the refusal must match
    model: str = "balloons"
    seed: bool = True  # add a valid SEED unless the case is about SEED
    extra: dict = field(default_factory=dict)


def _edit(**tensors):
    base = {"MODE": text(b"edit"), "IMAGE": image(40, 60), "MASK": mask(40, 60)}
    base.update(tensors)
    return base


def _animate(**tensors):
    return {"MODE": text(b"animate"), **tensors}


def _sr(**tensors):
    return {"MODE": text(b"super_resolve"), "IMAGE": image(24, 24), **tensors}


CASES = [
    # -- wrong types, shapes, ranks, names; missing inputs (Triton's checks and the contract's) --
    Case("seed missing", "tensor", {}, r"SEED is required", seed=False),
    Case("seed as int32", "tensor", {"SEED": i32(1)}, r"'SEED'.*INT32.*INT64", seed=False),
    Case("seed as bytes", "tensor", {"SEED": text(b"1")}, r"'SEED'.*BYTES", seed=False),
    Case("seed of two values", "tensor", {"SEED": (np.array([1, 2], np.int64), "INT64")}, r"shape for input 'SEED'", seed=False),
    Case("seed of rank 2", "tensor", {"SEED": (np.array([[1]], np.int64), "INT64")}, r"shape for input 'SEED'", seed=False),
    Case("seed empty", "tensor", {"SEED": (np.zeros([0], np.int64), "INT64")}, r"shape for input 'SEED'", seed=False),
    Case("unknown input", "tensor", {"COLOUR": i32(3)}, r"unexpected inference input 'COLOUR'"),
    Case("height as float", "tensor", {"HEIGHT": f32(32.0)}, r"'HEIGHT'.*FP32"),
    Case("mode as int", "tensor", {"MODE": i32(1)}, r"'MODE'.*INT32"),
    Case("mode not utf-8", "tensor", {"MODE": text(b"\xff\xfe")}, r"MODE is not UTF-8"),
    Case("image of rank 2", "tensor", {"MODE": text(b"paint"), "IMAGE": image(32, 32, channels=None)}, r"shape for input 'IMAGE'"),
    Case("image with alpha", "tensor", {"MODE": text(b"paint"), "IMAGE": image(32, 32, channels=4)}, r"shape for input 'IMAGE'"),
    Case("image as float", "tensor", {"MODE": text(b"paint"), "IMAGE": image(32, 32, dtype=np.float32)}, r"'IMAGE'.*FP32"),
    Case("mask of rank 3", "tensor", _edit(MASK=(np.zeros((40, 60, 1), np.uint8), "UINT8")), r"shape for input 'MASK'", model="stone"),
    # -- modes --
    Case("unknown mode", "mode", {"MODE": text(b"teleport")}, r"MODE 'teleport' is not supported"),
    Case("empty mode", "mode", {"MODE": text(b"")}, r"MODE '' is not supported"),
    Case("sr on a model not trained for it", "mode", _sr(), r"does not answer super_resolve"),
    # -- extreme values of every option --
    Case("seed negative", "option", {"SEED": i64(-5)}, r"seed must be between", seed=False),
    Case("seed at the top", "option", {"SEED": i64(2**63 - 1)}, r"seed must be between", seed=False),
    Case("height negative", "option", {"HEIGHT": i32(-32)}, r"too small"),
    Case("height int32 max", "option", {"HEIGHT": i32(INT32_MAX)}, r"exceeds the limit"),
    Case("thin 16 x 262144", "option", {"HEIGHT": i32(16), "WIDTH": i32(262144)}, r"too elongated"),
    Case("elongated within max_pixels", "option", {"HEIGHT": i32(64), "WIDTH": i32(4096)}, r"too elongated"),
    Case("zero samples", "option", {"NUM_SAMPLES": i32(0)}, r"between 1 and 64"),
    Case("negative samples", "option", {"NUM_SAMPLES": i32(-1)}, r"between 1 and 64"),
    Case("int32 max samples", "option", {"NUM_SAMPLES": i32(INT32_MAX)}, r"between 1 and 64"),
    Case("start scale negative", "option", {"START_SCALE": i32(-1)}, r"start scale -1 is out of range"),
    Case("start scale int32 max", "option", {"START_SCALE": i32(INT32_MAX)}, r"out of range"),
    Case("quantize 99", "option", {"MODE": text(b"paint"), "IMAGE": image(32, 32), "QUANTIZE": i32(99)}, r"quantize colours", model="cows"),
    Case("quantize negative", "option", {"MODE": text(b"paint"), "IMAGE": image(32, 32), "QUANTIZE": i32(-5)}, r"quantize colours", model="cows"),
    Case("mask blur int32 max", "option", _edit(MASK_BLUR=i32(INT32_MAX)), r"mask blur must be between 0 and 32", model="stone"),
    Case("mask dilation negative", "option", _edit(MASK_DILATION=i32(-5)), r"mask dilation must be between 0 and 64", model="stone"),
    Case("mask dilation 1e8", "option", _edit(MASK_DILATION=i32(10**8)), r"mask dilation must be between", model="stone"),
    Case("frames 1", "option", _animate(FRAMES=i32(1)), r"frames must be between 2 and 240", model="lightning"),
    Case("frames int32 max", "option", _animate(FRAMES=i32(INT32_MAX)), r"frames must be between", model="lightning"),
    Case("walk strength NaN", "option", _animate(WALK_STRENGTH=f32(math.nan)), r"walk strength must be between", model="lightning"),
    Case("anchor infinite", "option", _animate(ANCHOR=f32(math.inf)), r"anchor must be between", model="lightning"),
    Case("anchor negative", "option", _animate(ANCHOR=f32(-0.5)), r"anchor must be between", model="lightning"),
    Case("sr factor 1000", "option", _sr(SR_FACTOR=f32(1000.0)), r"factor must be in \(1, 16\]", model="lowres_sr"),
    Case("sr factor NaN", "option", _sr(SR_FACTOR=f32(math.nan)), r"factor must be in", model="lowres_sr"),
    Case("sr factor below 1", "option", _sr(SR_FACTOR=f32(0.5)), r"factor must be in", model="lowres_sr"),
    Case("upscale 3", "option", {"UPSCALE": i32(3)}, r"UPSCALE must be one of 1, 2, 4 .*got 3", model="balloons_petsgan"),
    Case("upscale int32 max", "option", {"UPSCALE": i32(INT32_MAX)}, r"UPSCALE must be one of 1, 2, 4", model="balloons_petsgan"),
    Case("upscale on SinGAN", "option", {"UPSCALE": i32(4)}, r"the singan model has no learned upsampler"),
    Case("upscale 4 of 2048 px", "option", {"UPSCALE": i32(4), "HEIGHT": i32(2048), "WIDTH": i32(2048), "NUM_SAMPLES": i32(4)},
         r"over budget: 4 images of 2048x2048", model="balloons_petsgan"),
    # -- images and masks --
    Case("edit without image", "image", {"MODE": text(b"edit"), "MASK": mask(40, 60)}, r"needs an input image", model="stone"),
    Case("edit without mask", "image", {"MODE": text(b"edit"), "IMAGE": image(40, 60)}, r"needs a mask", model="stone"),
    Case("mask of another size", "image", _edit(MASK=mask(41, 60)), r"they must match", model="stone"),
    Case("mask marking nothing", "image", _edit(MASK=mask(40, 60, region=False)), r"marks nothing", model="stone"),
    Case("image empty", "image", {"MODE": text(b"paint"), "IMAGE": image(0, 32)}, r"IMAGE is empty", model="cows"),
    Case("image oversize", "image", {"MODE": text(b"paint"), "IMAGE": image(2049, 2049)}, r"IMAGE is 2049x2049; at most 4194304 px", model="cows"),
    Case("image one row", "image", {"MODE": text(b"paint"), "IMAGE": image(1, 4096)}, r"IMAGE 1x4096 is too elongated", model="cows"),
    Case("sr output oversize", "image", _sr(IMAGE=image(1024, 1024)), r"exceeds the limit", model="lowres_sr"),
    # -- the work budget (pixels x images / frames / steps per request) --
    Case("8 x 2048x2048", "budget", {"NUM_SAMPLES": i32(8), "HEIGHT": i32(2048), "WIDTH": i32(2048)}, r"over budget: 8 images of 2048x2048"),
    Case("64 x 1024x1024", "budget", {"NUM_SAMPLES": i32(64), "HEIGHT": i32(1024), "WIDTH": i32(1024)}, r"over budget"),
    Case("240 frames of 1024x1024", "budget", _animate(FRAMES=i32(240), HEIGHT=i32(1024), WIDTH=i32(1024)), r"over budget: 240 frames", model="lightning"),
    Case("64 x4 super-resolutions of 256x256", "budget", _sr(IMAGE=image(256, 256), NUM_SAMPLES=i32(64)), r"over budget: 64 x4", model="lowres_sr"),
    Case("edit 64 x 1024x1024", "budget", _edit(NUM_SAMPLES=i32(64), HEIGHT=i32(1024), WIDTH=i32(1024)), r"over budget", model="stone"),
]


def infer(url: str, model: str, tensors: dict):
    inputs = []
    for name, (value, datatype) in tensors.items():
        tensor = grpcclient.InferInput(name, list(value.shape), datatype)
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    with grpcclient.InferenceServerClient(url) as client:
        return client.infer(model, inputs, client_timeout=60)


def test_the_table_is_large_and_covers_every_class():
    kinds = {case.kind for case in CASES}
    assert len(CASES) >= 25 and kinds == {"tensor", "mode", "option", "image", "budget"}
    assert len({case.name for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_request_is_refused_with_a_reason_and_the_server_stays_ready(triton, case):
    tensors = ({"SEED": i64(1)} if case.seed else {}) | case.tensors
    with pytest.raises(InferenceServerException) as caught:
        infer(triton.settings.grpc_url, case.model, tensors)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT", caught.value.message()
    assert "internal error" not in caught.value.message()
    assert re.search(case.message, caught.value.message()), caught.value.message()
    with grpcclient.InferenceServerClient(triton.settings.grpc_url) as client:
        assert client.is_server_ready() and client.is_model_ready(case.model)
    answer = infer(triton.settings.grpc_url, case.model, {"SEED": i64(0), "MODE": text(b"reconstruct")})
    assert answer.as_numpy("IMAGES").ndim == 4
