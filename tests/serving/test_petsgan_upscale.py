"""High-resolution requests (UPSCALE 2, 4) through PetsGAN's learned upsampler: sizes, the pipeline
by hand, served == in process (real Triton server, gRPC), the CLI and batch jobs, reproducibility,
models without an upsampler (other recipes, artifacts from before the phase) and hostile values."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from typer.testing import CliRunner

from sigctl import artifact
from sigctl.artifact import files
from sigctl.cli import app
from sigctl.client import RequestRejected, SigClient
from sigctl.config import load_settings
from sigctl.core.images import load_rgb
from sigctl.core.model import NoiseSpec
from sigctl.core.models.petsgan_networks import patch_transfer
from sigctl.core.operations import Request, execute
from sigctl.core.pixels import to_uint8
from sigctl.core.requests import RequestLimits, plan_request
from sigctl.core.stages import stacked_unit_noise
from sigctl.errors import RequestError
from sigctl.serving import contract
from sigctl.training.loop import train

from ..conftest import BALLOONS, IMAGES

PETSGAN = "balloons_petsgan"  # the session zoo's tiny PetsGAN (48 x 64, with its upsampler phase)
CONTENT = IMAGES / "train" / "starry_night.png"
runner = CliRunner()


@pytest.fixture(scope="module")
def petsgan(zoo_runs):
    return artifact.load(zoo_runs / PETSGAN)


@pytest.fixture(scope="module")
def old_run(tmp_path_factory):
    """A three-phase PetsGAN artifact as sigctl wrote them before the upsampler: no upsampler
    weights and no upsampler fields in its stored model config."""
    run = tmp_path_factory.mktemp("petsgan_old") / "run"
    train(BALLOONS, run, load_settings("tiny", overrides={"recipe": "petsgan", "optimizer": {"iterations_per_phase": 4, "upsampler_iterations": 0}}))
    manifest = json.loads((run / files.MANIFEST).read_text())
    config = manifest["model"]["config"]
    assert config.pop("upsampler_channels") == 0 and config.pop("upsampler_blocks") == 1
    (run / files.MANIFEST).write_text(json.dumps(manifest))
    return run


def test_upscale_2_and_4_give_exactly_2_and_4_times_the_size(petsgan):
    executor = petsgan.executor()
    assert executor.spec.layout.finest_size == (48, 64)
    assert execute(executor, Request("sample", seed=1, upscale=2)).shape == (1, 96, 128, 3)
    assert execute(executor, Request("sample", seed=1, num_samples=2, upscale=4)).shape == (2, 192, 256, 3)
    assert execute(executor, Request("sample", seed=1, height=40, width=56, upscale=2)).shape == (1, 40, 56, 3)  # the final size, made at 20 x 28
    assert execute(executor, Request("animate", seed=1, frames=2, upscale=2)).shape == (2, 96, 128, 3)
    assert execute(executor, Request("style", image=load_rgb(CONTENT), upscale=2)).shape == (1, 100, 128, 3)  # 190 x 243 at 128 px long


def test_in_process_upscale_is_generator_transfer_restoration_then_the_upsampler_by_hand(petsgan):
    model, executor = petsgan.model, petsgan.executor()
    noise = torch.from_numpy(stacked_unit_noise(NoiseSpec(1), [5, 6], 0, 6, 8))
    with torch.no_grad():
        restored = model.restoration(patch_transfer(model.generator(noise), model.reference, 3))
        twice = model.upsampler(model.upsampler(restored))
        plain = execute(executor, Request("sample", seed=5, num_samples=2))
        upscaled = execute(executor, Request("sample", seed=5, num_samples=2, upscale=4))
    assert np.array_equal(plain, to_uint8(restored.numpy()))
    assert np.array_equal(upscaled, to_uint8(twice.numpy()))
    # The upsampler is learned, not a plain enlargement: it differs from bilinear x4 of the same sample.
    bilinear = torch.nn.functional.interpolate(restored, scale_factor=4.0, mode="bilinear", align_corners=False)
    assert not np.array_equal(upscaled, to_uint8(bilinear.numpy()))
    # Same artifact, seed and request: same pixels.
    assert np.array_equal(upscaled, execute(petsgan.executor(), Request("sample", seed=5, num_samples=2, upscale=4)))


def test_served_upscale_equals_in_process_within_one_level(triton, zoo, petsgan):
    executor = petsgan.executor()
    with SigClient(triton.settings.grpc_url, PETSGAN) as client:
        assert client.info().upscales == [1, 2, 4]
        served = client.sample(2, seed=9, upscale=4)
        assert np.array_equal(served, client.sample(2, seed=9, upscale=4))  # reproducible over the server too
        style = client.style(load_rgb(CONTENT), upscale=2)
        odd = client.sample(1, seed=9, height=2 * 37, width=2 * 51, upscale=2)
    assert served.shape == (2, 192, 256, 3)
    assert np.abs(served.astype(int) - execute(executor, Request("sample", seed=9, num_samples=2, upscale=4)).astype(int)).max() <= 1
    assert np.abs(style.astype(int) - execute(executor, Request("style", image=load_rgb(CONTENT), upscale=2)).astype(int)).max() <= 1
    assert np.abs(odd.astype(int) - execute(executor, Request("sample", seed=9, height=74, width=102, upscale=2)).astype(int)).max() <= 1


@pytest.mark.parametrize("upscale", [3, 0, -1, 8, 2**31 - 1])
def test_hostile_upscales_are_refused_before_any_work_in_process_and_over_grpc(triton, zoo, petsgan, upscale):
    spec = petsgan.spec
    with pytest.raises(RequestError, match=rf"UPSCALE must be one of 1, 2, 4 \(the learned x2 upsampler runs 0, 1 or 2 times\), got {upscale}"):
        plan_request(spec, RequestLimits(), Request("sample", upscale=upscale))
    with SigClient(triton.settings.grpc_url, PETSGAN) as client:
        with pytest.raises(RequestRejected, match=rf"UPSCALE must be one of 1, 2, 4.*got {upscale}"):
            client.sample(1, upscale=upscale)


def test_hostile_sizes_with_an_upscale_are_refused_before_any_work(petsgan):
    spec, limits = petsgan.spec, RequestLimits()
    with pytest.raises(RequestError, match=r"size 97x128 is not a multiple of UPSCALE 2 .*ask for 96x128"):
        plan_request(spec, limits, Request("sample", height=97, width=128, upscale=2))
    with pytest.raises(RequestError, match=r"size 40x64 with UPSCALE 4 generates 10x16, under the smallest side 16 px"):
        plan_request(spec, limits, Request("sample", height=40, width=64, upscale=4))
    with pytest.raises(RequestError, match=r"size 4096x4096 \(16777216 px\) exceeds the limit of 4194304 px per image"):
        plan_request(spec, limits, Request("sample", height=4096, width=4096, upscale=4))
    # The budget counts the stages and every upsampler run: 16 x (1/16 + 1/4 + 1) x 1024^2 > 4 x 2048^2.
    with pytest.raises(RequestError, match=r"over budget: 16 images of 1024x1024 send 22020096 px"):
        plan_request(spec, limits, Request("sample", num_samples=16, height=1024, width=1024, upscale=4))
    plan = plan_request(spec, limits, Request("sample", num_samples=2, height=1024, width=1024, upscale=4))
    assert (plan.generated_size, plan.work_pixels, plan.chunk) == ((256, 256), 2 * (256**2 + 512**2 + 1024**2), 1)
    with pytest.raises(RequestError, match=r"UPSCALE applies to sample, animate, style requests, not reconstruct; leave it at 1"):
        plan_request(spec, limits, Request("reconstruct", upscale=2))
    with pytest.raises(RequestError, match=r"UPSCALE 2147483648 does not fit its type int32"):
        contract.build_inputs(Request("sample", upscale=2**31))


def test_other_recipes_refuse_an_upscale_by_name(tiny_run):
    from sigctl.training.recipes.consingan import ConSinGANRecipe

    with pytest.raises(RequestError, match=r"the singan model has no learned upsampler; UPSCALE 2 needs a PetsGAN model trained with its upsampler phase"):
        execute(artifact.load(tiny_run).executor(), Request("sample", upscale=2))
    settings = load_settings("tiny", overrides={"recipe": "consingan"})
    spec = ConSinGANRecipe.untrained_model(settings, settings.plan_pyramid(40, 52)).spec("consingan")
    with pytest.raises(RequestError, match=r"the consingan model has no learned upsampler; UPSCALE 4"):
        plan_request(spec, RequestLimits(), Request("sample", upscale=4))


def test_an_artifact_from_before_the_upsampler_loads_samples_and_refuses_an_upscale_by_name(old_run, tmp_path):
    loaded = artifact.load(old_run)
    assert loaded.model.upsampler is None and [g.name for g in loaded.spec.graphs] == ["stage_00", "stage_01", "stage_02"]
    executor = loaded.executor()
    assert execute(executor, Request("sample", seed=2)).shape == (1, 48, 64, 3)
    with pytest.raises(RequestError, match=r"the petsgan model has no learned upsampler; UPSCALE 4 .*artifacts from before it have none"):
        execute(executor, Request("sample", upscale=4))
    refused = runner.invoke(app, ["sample", "--local", str(old_run), "--upscale", "2", "--out", str(tmp_path / "s")])
    assert refused.exit_code != 0 and "has no learned upsampler" in refused.output and not (tmp_path / "s").exists()
    assert "learned x2 upsampler" not in runner.invoke(app, ["info", str(old_run)]).output


def test_sample_upscale_from_the_cli_and_a_batch_job_give_the_in_process_pixels(triton, zoo, petsgan, tmp_path):
    result = runner.invoke(app, ["sample", "--local", str(zoo / PETSGAN), "--num", "2", "--seed", "4", "--upscale", "2", "--out", str(tmp_path / "s")])
    assert result.exit_code == 0, result.output
    assert "learned x2 upsampler: --upscale 2 or 4" in runner.invoke(app, ["info", str(zoo / PETSGAN)]).output
    expected = execute(petsgan.executor(), Request("sample", seed=4, num_samples=2, upscale=2))
    assert np.array_equal(np.asarray(Image.open(tmp_path / "s" / "seed4_96x128_start0.png")), expected[0])
    shutil.copy(CONTENT, tmp_path / "content.png")
    job = {"output": "out", "tasks": [{"model": PETSGAN, "mode": "sample", "count": 2, "seed_start": 4, "upscale": 2}]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    result = runner.invoke(app, ["batch", str(tmp_path / "job.yaml"), "--server", triton.settings.grpc_url])
    assert result.exit_code == 0, result.output
    lines = sorted((json.loads(text) for text in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()), key=lambda line: line["parameters"]["seed"])
    assert [line["parameters"]["upscale"] for line in lines] == [2, 2]
    for line, image in zip(lines, expected):
        assert np.abs(np.asarray(Image.open(tmp_path / "out" / line["file"])).astype(int) - image.astype(int)).max() <= 1
    job["tasks"][0]["upscale"] = 3
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(job))
    bad = runner.invoke(app, ["batch", str(tmp_path / "bad.yaml"), "--server", triton.settings.grpc_url])
    assert bad.exit_code != 0 and "tasks.0.upscale: Input should be 1, 2 or 4" in bad.output
