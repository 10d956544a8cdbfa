"""States stay where the graphs run: onnxruntime's IOBinding path (exercised with the CPU provider)
gives the plain path's pixels exactly, the in-process executor keeps tensors between stages, one
request runs as one batch when it fits the memory budget, and on a GPU (``gpu``-marked) the CUDA
path matches the served one."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
import torch

from sigctl import artifact
from sigctl.core.images import load_mask, load_rgb
from sigctl.core.operations import Request, execute
from sigctl.core.requests import RequestLimits, plan_request
from sigctl.core.stages import entering_state, stage_sizes
from sigctl.serving.runtime import ModelRuntime

from ..conftest import IMAGES

EDITED, MASK = load_rgb(IMAGES / "editing/stone_edit.png"), load_mask(IMAGES / "editing/stone_edit_mask.png")
MODELS = ("balloons", "balloons_consingan", "lowres_sr")
REQUESTS = {
    "balloons": [
        Request("sample", seed=3, num_samples=7, height=40, width=57),
        Request("edit", seed=2, num_samples=2, image=EDITED, mask=MASK),
        Request("animate", seed=6, frames=5),
        Request("reconstruct"),
    ],
    "balloons_consingan": [Request("sample", seed=2**40, num_samples=3, height=37, width=61), Request("harmonize", seed=1, image=EDITED, mask=MASK)],
    "lowres_sr": [Request("super_resolve", seed=4, num_samples=2, image=load_rgb(IMAGES / "train/33039_LR.png")[:30, :40])],
}


@pytest.fixture(scope="module")
def repository(zoo, exported):
    return exported.folder.parent.parent


@pytest.mark.parametrize("model", MODELS)
def test_io_binding_gives_the_plain_paths_pixels_exactly(repository, model):
    bound = ModelRuntime(repository / model / "1", engine="onnx", io_binding=True)
    plain = ModelRuntime(repository / model / "1", engine="onnx", io_binding=False)
    for request in REQUESTS[model]:
        assert np.array_equal(bound.handle(request), plain.handle(request)), request.mode


def test_states_stay_in_the_engines_form_between_stages(repository, zoo_runs, tiny_run):
    # Only the noise goes in and the final image comes out: stage outputs are not host arrays.
    for model, expected in (("balloons", ort.OrtValue), ("balloons_consingan", ort.OrtValue)):
        runtime = ModelRuntime(repository / model / "1", engine="onnx")
        sizes = stage_sizes(runtime, *runtime.layout.finest_size)
        state = entering_state(runtime, 0, 2, sizes)
        for stage in range(runtime.spec.num_stages):
            state = runtime.run_stage(stage, state, runtime.seeded_noise(runtime.spec.noises[stage], [8, 9], stage, *sizes[stage]))
            assert isinstance(state, expected)
        assert isinstance(runtime.state_to_rgb(state), np.ndarray)
    executor = artifact.load(tiny_run).executor()
    noise = executor.seeded_noise(executor.spec.noises[0], [8], 0, *executor.layout.sizes[0])
    assert isinstance(noise, torch.Tensor) and isinstance(executor.run_stage(0, entering_state(executor, 0, 1, executor.layout.sizes), noise), torch.Tensor)


def test_a_request_that_fits_the_budget_runs_as_one_batch(repository):
    spec = ModelRuntime(repository / "balloons" / "1", engine="onnx").spec
    # By hand: 1024 * 1024 // (40 * 57) = 459 images fit, so all 64 run together (before: 8 at a time);
    # 512 x 512 px images: 4 per batch; 1024 x 1024: 1.
    assert plan_request(spec, RequestLimits(), Request("sample", num_samples=64, height=40, width=57)).chunk == 64
    assert plan_request(spec, RequestLimits(), Request("sample", num_samples=5, height=512, width=512)).chunk == 4
    assert plan_request(spec, RequestLimits(), Request("sample", num_samples=3, height=1024, width=1024)).chunk == 1


@pytest.mark.parametrize("model", ("balloons", "balloons_consingan"))
def test_any_batch_split_gives_the_same_pixels(repository, model):
    runtime = ModelRuntime(repository / model / "1", engine="onnx")
    request = Request("sample", seed=11, num_samples=7, height=33, width=45)
    together = execute(runtime, request)
    for per_batch in (1, 2, 3, 6):
        assert np.array_equal(execute(runtime, request, RequestLimits(max_chunk_pixels=per_batch * 33 * 45)), together)


@pytest.mark.gpu
@pytest.mark.parametrize("model", MODELS)
def test_on_cuda_in_process_matches_served_within_one_level(repository, zoo_runs, tiny_run, model):
    loaded = artifact.load(tiny_run if model == "balloons" else zoo_runs / model, device="cuda").executor()
    served = ModelRuntime(repository / model / "1", engine="onnx")
    for request in REQUESTS[model]:
        difference = np.abs(execute(loaded, request).astype(int) - served.handle(request).astype(int))
        assert difference.max() <= 1 and (difference > 0).mean() < 1e-3, request.mode
