"""The cost of a request is bounded, the same way in process and on the server: a work budget per
request, an aspect-ratio bound, chunks of bounded size (peak memory independent of the number of
images, pixels unchanged), the published limits are the enforced ones, and work stops when the
client has gone."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException
from typer.testing import CliRunner

from sigctl import artifact
from sigctl.cli import app
from sigctl.client import RequestRejected, SigClient
from sigctl.core.images import load_mask, load_rgb
from sigctl.core.operations import Request, execute
from sigctl.core.stages import Executor
from sigctl.core.requests import RequestLimits
from sigctl.errors import RequestCancelled, RequestError
from sigctl.serving import contract

from ..conftest import IMAGES

SRC = Path(__file__).resolve().parents[2] / "src"
OVER_BUDGET = Request("sample", seed=0, num_samples=8, height=2048, width=2048)


@pytest.fixture(scope="module")
def balloons(tiny_run):
    return artifact.load(tiny_run).executor()


def test_a_thin_extreme_request_is_refused_within_a_second(balloons, tiny_run, tmp_path):
    started = time.monotonic()
    with pytest.raises(RequestError, match="16x262144 is too elongated"):
        execute(balloons, Request("sample", seed=0, height=16, width=262144))
    result = CliRunner().invoke(app, ["sample", "--local", str(tiny_run), "--num", "1", "--height", "16", "--width", "262144", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "too elongated" in result.output and "Traceback" not in result.output
    assert time.monotonic() - started < 5  # it ran for over 4 minutes


def test_over_budget_is_refused_before_any_work_with_the_same_message_in_process_and_over_grpc(balloons, triton):
    started = time.monotonic()
    with pytest.raises(RequestError) as local:
        execute(balloons, OVER_BUDGET)
    assert time.monotonic() - started < 0.5
    assert "over budget: 8 images of 2048x2048 send 33554432 px through the model, at most 16777216 px" in str(local.value)
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        with pytest.raises(RequestRejected) as served:
            client.run(OVER_BUDGET)
    assert served.value.status.endswith("INVALID_ARGUMENT")  # final: a batch job does not retry it
    assert str(local.value) in str(served.value)


def test_the_published_limits_are_the_enforced_ones(triton):
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        published = client.info().limits
        assert published == RequestLimits()
        over = published.max_request_pixels // (1024 * 1024) + 1
        with pytest.raises(RequestRejected, match=f"at most {published.max_request_pixels} px per request"):
            client.sample(over, 0, 1024, 1024)
        with pytest.raises(RequestRejected, match=f"longer side may be at most {published.max_aspect_ratio:g} x"):
            client.sample(1, 0, 16, int(16 * published.max_aspect_ratio) + 1)


@pytest.fixture(scope="module")
def runtimes(zoo, exported):
    """The served (numpy + onnxruntime) executors, in this process."""
    from sigctl.serving.runtime import ModelRuntime

    repository = exported.folder.parent.parent
    return {name: ModelRuntime(repository / name / "1", engine="onnx") for name in ("balloons", "stone", "lightning", "lowres_sr")}


CHUNKED = [
    ("balloons", Request("sample", seed=3, num_samples=11, height=40, width=57)),
    ("balloons", Request("sample", seed=5, num_samples=9, start_scale=1)),
    ("stone", Request("edit", seed=2, num_samples=9, image=load_rgb(IMAGES / "editing/stone_edit.png"),
                      mask=load_mask(IMAGES / "editing/stone_edit_mask.png"), mask_blur=9, mask_dilation=12)),
    ("lightning", Request("animate", seed=6, frames=19)),
    ("lowres_sr", Request("super_resolve", seed=4, num_samples=5, image=load_rgb(IMAGES / "train/33039_LR.png")[:40, :50])),
]
CHUNKED_IDS = ["sample", "sample from scale 1", "edit", "animate", "super_resolve"]


@pytest.mark.parametrize("model, request_", CHUNKED, ids=CHUNKED_IDS)
def test_chunks_do_not_change_a_single_pixel(runtimes, model, request_):
    one_at_a_time = execute(runtimes[model], request_, RequestLimits(max_chunk_pixels=1))
    all_together = execute(runtimes[model], request_, RequestLimits(max_chunk_pixels=10**9))
    default = execute(runtimes[model], request_)
    assert np.array_equal(one_at_a_time, all_together) and np.array_equal(default, all_together)


@pytest.mark.parametrize("model, request_", CHUNKED, ids=CHUNKED_IDS)
def test_in_pytorch_chunks_move_at_most_one_level_in_rare_pixels(zoo, tiny_run, model, request_):
    # PyTorch's CPU convolutions round differently for different batch sizes (~1e-6), so in
    # process a value on a rounding boundary can move by one level; the served runtime cannot.
    executor = artifact.load(tiny_run if model == "balloons" else zoo / model).executor()
    one_at_a_time = execute(executor, request_, RequestLimits(max_chunk_pixels=1)).astype(int)
    all_together = execute(executor, request_, RequestLimits(max_chunk_pixels=10**9)).astype(int)
    difference = np.abs(one_at_a_time - all_together)
    assert difference.max() <= 1 and (difference > 0).mean() < 1e-3


class CountingExecutor(Executor):
    """An executor that counts the stages it runs."""

    def __init__(self, inner):
        self.inner, self.spec, self.scales_run = inner, inner.spec, 0

    def run_stage(self, stage, state, noise):
        self.scales_run += 1
        return self.inner.run_stage(stage, state, noise)

    def state_to_rgb(self, state):
        return self.inner.state_to_rgb(state)

    def reconstruction_input(self):
        return self.inner.reconstruction_input()

    def reference(self):
        return self.inner.reference()


def test_work_stops_between_scales_once_the_request_is_cancelled(balloons):
    counting = CountingExecutor(balloons)
    asked = []

    def cancelled() -> bool:
        asked.append(1)
        return len(asked) > 3

    with pytest.raises(RequestCancelled, match="cancelled"):
        execute(counting, Request("sample", seed=0, num_samples=20, height=64, width=64), RequestLimits(max_chunk_pixels=1), cancelled)
    assert counting.scales_run == 3  # 20 images x all scales were asked for


MEASURE_PEAK = """
import json, resource, sys
from sigctl import artifact
from sigctl.core.operations import Request, execute
executor = artifact.load(sys.argv[1]).executor()
execute(executor, Request("sample", seed=0, num_samples=1, height=64, width=64))
loaded = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
images = execute(executor, Request("sample", seed=0, num_samples=int(sys.argv[2]), height=1024, width=1024))
print(json.dumps({"loaded_kb": loaded, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "shape": list(images.shape)}))
"""


@pytest.mark.slow
def test_peak_memory_does_not_grow_with_the_number_of_images(tiny_run):
    def peak(count: int) -> dict:
        output = subprocess.run([sys.executable, "-c", MEASURE_PEAK, str(tiny_run), str(count)], capture_output=True, text=True,
                                check=True, timeout=300, env={**os.environ, "PYTHONPATH": str(SRC)}).stdout
        return json.loads(output.splitlines()[-1])

    one, many = peak(1), peak(12)
    assert many["shape"] == [12, 1024, 1024, 3]
    working_set = one["peak_kb"] - one["loaded_kb"]  # what running one 1024x1024 image costs
    output_kb = 11 * 1024 * 1024 * 3 / 1024  # the 11 extra uint8 images of the answer itself
    # Beyond the answer, 12 images cost less than one more image's working set (8 at once: ~6x more).
    assert many["peak_kb"] - one["peak_kb"] - output_kb < working_set, (one, many)


def _stub_pid(server, model: str) -> int:
    from sigctl.serving.processes import children as _children

    for pid in _children(server.process.pid):
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if arguments[0].endswith(b"triton_python_backend_stub") and f"/{model}/".encode() in arguments[1]:
            return pid
    raise AssertionError(f"no stub for {model}")


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@pytest.mark.slow
def test_the_server_stops_working_on_a_request_whose_deadline_passed(triton):
    stub = _stub_pid(triton, "balloons")
    tensors = contract.build_inputs(Request("sample", seed=0, num_samples=4, height=2048, width=2048))  # ~9 s of work
    inputs = []
    for name, value in tensors.items():
        tensor = grpcclient.InferInput(name, list(value.shape), contract.wire_type(contract.INPUTS_BY_NAME[name]))
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    with grpcclient.InferenceServerClient(triton.settings.grpc_url) as client:
        with pytest.raises(InferenceServerException) as caught:
            client.infer("balloons", inputs, client_timeout=1.0)
        assert caught.value.status() == "StatusCode.DEADLINE_EXCEEDED"
        time.sleep(1.5)  # the scale in progress finishes, then the stub sees the cancellation
        before = _cpu_seconds(stub)
        time.sleep(2.0)
        assert _cpu_seconds(stub) - before < 0.3  # idle: it stopped instead of computing for ~8 s more
        assert client.is_model_ready("balloons")
