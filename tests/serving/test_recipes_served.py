"""Every recipe, through the real server: every mode a model lists answers as in process (within
one level, under 1 % of values), a mode it does not list is refused naming the recipe and its modes,
and the served config publishes what the model is."""

import numpy as np
import pytest
import torch

from sigctl import artifact
from sigctl.client import RequestRejected, SigClient
from sigctl.core.images import load_rgb
from sigctl.core.operations import Request, execute
from sigctl.core.models.petsgan_networks import patch_transfer
from sigctl.core.pixels import resize, resize_uint8, to_network, to_uint8
from sigctl.errors import RequestError

from ..conftest import IMAGES

MODELS = {"singan": "balloons", "consingan": "balloons_consingan", "involution": "balloons_involution", "petsgan": "balloons_petsgan"}
NAIVE = IMAGES / "harmonization" / "starry_night_naive.png"
NAIVE_MASK = IMAGES / "harmonization" / "starry_night_naive_mask.png"


def _request(mode: str) -> Request:
    """A valid request of every mode, at an odd size where the mode takes one."""
    naive = load_rgb(NAIVE)
    mask = load_rgb(NAIVE_MASK).max(axis=2)
    return {
        "sample": Request("sample", seed=3, num_samples=2, height=37, width=61),
        "reconstruct": Request("reconstruct"),
        "paint": Request("paint", seed=3, image=load_rgb(IMAGES / "paint" / "cows.png")),
        "edit": Request("edit", seed=3, image=naive, mask=mask, height=40, width=52),
        "harmonize": Request("harmonize", seed=3, image=naive, mask=mask),
        "super_resolve": Request("super_resolve", seed=3, image=np.zeros((20, 24, 3), np.uint8), sr_factor=2.0),
        "animate": Request("animate", seed=3, frames=4, height=30, width=44),
        "style": Request("style", image=load_rgb(IMAGES / "train" / "starry_night.png")),
    }[mode]


def _listed(recipe: str, zoo_runs, tiny_run) -> tuple[str, list[str]]:
    run = tiny_run if MODELS[recipe] == "balloons" else zoo_runs / MODELS[recipe]
    return run, list(artifact.load(run).spec.modes)


@pytest.mark.parametrize("recipe", sorted(MODELS))
def test_every_listed_mode_and_start_stage_answers_over_grpc_as_in_process(triton, zoo, tiny_run, recipe):
    run, modes = _listed(recipe, zoo, tiny_run)
    executor = artifact.load(run).executor()
    requests = [_request(mode) for mode in modes]
    requests += [Request("sample", seed=5, num_samples=1, height=33, width=90, start_scale=s) for s in range(executor.spec.num_stages)]
    with SigClient(triton.settings.grpc_url, MODELS[recipe]) as client:
        info = client.info()
        assert info.recipe == recipe and info.modes == modes and info.stage_sizes == list(executor.spec.layout.sizes)
        for request in requests:
            local, served = execute(executor, request), client.run(request)
            assert served.shape == local.shape, request.mode
            difference = np.abs(served.astype(int) - local.astype(int))
            assert difference.max() <= 1 and (difference > 0).mean() < 0.01, (request.mode, request.start_scale)


@pytest.mark.parametrize("recipe", ["consingan", "involution"])
def test_consingan_lists_its_modes_and_refuses_the_others_in_process_and_over_grpc(triton, zoo, recipe):
    executor = artifact.load(zoo / MODELS[recipe]).executor()
    assert executor.spec.modes == ("sample", "reconstruct", "harmonize", "edit", "animate")
    for mode in ("paint", "super_resolve", "style"):
        with pytest.raises(RequestError, match=rf"the {recipe} model does not answer {mode} requests; it answers sample, reconstruct"):
            execute(executor, _request(mode))
        with SigClient(triton.settings.grpc_url, MODELS[recipe]) as client:
            with pytest.raises(RequestRejected, match=rf"{recipe} model does not answer {mode}.*harmonize, edit, animate") as refused:
                client.run(_request(mode))
            assert refused.value.status.endswith("INVALID_ARGUMENT")


@pytest.mark.parametrize("recipe", ["consingan", "involution"])
def test_consingan_injects_at_its_first_stage_only(zoo, recipe):
    executor = artifact.load(zoo / MODELS[recipe]).executor()
    request = _request("harmonize")
    with pytest.raises(RequestError, match="first stage only"):
        execute(executor, Request("harmonize", seed=3, image=request.image, mask=request.mask, start_scale=1))
    # Above stage 0 the reconstruction noise is used, as the reference does: the seed does not matter.
    one = execute(executor, request)
    assert np.array_equal(one, execute(executor, Request("harmonize", seed=99, image=request.image, mask=request.mask)))
    # Far from the mask (beyond dilation + blur) the naive image is kept exactly.
    from sigctl.core.masks import soft_mask

    weight = soft_mask(request.mask, *one.shape[1:3], request.mask_dilation, request.mask_blur)
    naive = resize_uint8(request.image, *one.shape[1:3])
    assert np.array_equal(one[0][weight == 0], naive[weight == 0]) and (weight == 0).any()


def test_petsgan_lists_its_modes_and_refuses_the_others_in_process_and_over_grpc(triton, zoo):
    executor = artifact.load(zoo / MODELS["petsgan"]).executor()
    assert executor.spec.modes == ("sample", "reconstruct", "animate", "style")
    assert [graph.name for graph in executor.spec.graphs] == ["stage_00", "stage_01", "stage_02", "upsampler"]
    for mode in ("paint", "edit", "harmonize", "super_resolve"):
        with pytest.raises(RequestError, match=rf"the petsgan model does not answer {mode} requests; it answers sample, reconstruct, animate, style"):
            execute(executor, _request(mode))
        with SigClient(triton.settings.grpc_url, MODELS["petsgan"]) as client:
            with pytest.raises(RequestRejected, match=rf"petsgan model does not answer {mode}"):
                client.run(_request(mode))


def test_petsgan_samples_at_8_times_its_low_resolution_and_its_reconstruction_is_the_restored_transfer_of_the_generators(zoo):
    loaded = artifact.load(zoo / MODELS["petsgan"])
    model, executor = loaded.model, loaded.executor()
    assert executor.spec.layout.sizes == ((6, 8), (6, 8), (48, 64))
    with torch.no_grad():
        low = model.generator(model.reconstruction_noise)
        expected = model.restoration(patch_transfer(low, model.reference, 3))
    assert np.array_equal(execute(executor, Request("reconstruct"))[0], to_uint8(expected.numpy())[0])
    # Every pixel of the transferred image is a mean of reference pixels: the transfer really ran.
    assert not torch.allclose(patch_transfer(low, model.reference, 3), low)


def test_petsgan_style_transfer_is_the_content_at_low_resolution_transferred_and_restored(triton, zoo):
    loaded = artifact.load(zoo / MODELS["petsgan"])
    model, executor = loaded.model, loaded.executor()
    content = load_rgb(IMAGES / "train" / "starry_night.png")  # 190 x 243: the training longer side 64 -> 50 x 64
    styled = execute(executor, Request("style", image=content))
    assert styled.shape == (1, 50, 64, 3)
    low = torch.from_numpy(resize(to_network(resize_uint8(content, 50, 64)), 7, 8))[None]  # ceil(50 / 8) x 64 / 8
    with torch.no_grad():
        expected = model.restoration(patch_transfer(low, model.reference, 3))
        expected = torch.nn.functional.interpolate(expected, size=(50, 64), mode="bilinear", align_corners=False)
    assert np.abs(styled[0].astype(int) - to_uint8(expected.numpy())[0].astype(int)).max() <= 1
    assert execute(executor, Request("style", image=content, width=32)).shape == (1, 25, 32, 3)  # one side keeps the aspect
    with pytest.raises(RequestError, match="style transfer puts the content image in place of the first stage's output: use start scale 1, got 0"):
        execute(executor, Request("style", image=content, start_scale=0))
    with pytest.raises(RequestError, match="this mode needs an input image"):
        execute(executor, Request("style"))
    with SigClient(triton.settings.grpc_url, MODELS["petsgan"]) as client:
        assert np.abs(client.style(content).astype(int) - styled.astype(int)).max() <= 1


def test_singan_refuses_style_transfer(tiny_run):
    with pytest.raises(RequestError, match="the singan model does not answer style requests"):
        execute(artifact.load(tiny_run).executor(), _request("style"))


def test_consingan_requests_are_checked_against_its_spec_before_any_work():
    # In process, no server or trained model needed: the spec alone refuses what the model cannot do.
    from sigctl.config import load_settings
    from sigctl.core.requests import RequestLimits, plan_request
    from sigctl.training.recipes.consingan import ConSinGANRecipe

    settings = load_settings("tiny", overrides={"recipe": "consingan"})
    spec = ConSinGANRecipe.untrained_model(settings, settings.plan_pyramid(40, 52)).spec()
    image, mask = np.zeros((24, 30, 3), np.uint8), np.full((24, 30), 255, np.uint8)
    for mode in ("paint", "super_resolve"):
        with pytest.raises(RequestError, match=rf"the consingan model does not answer {mode} requests; it answers sample, reconstruct"):
            plan_request(spec, RequestLimits(), Request(mode, image=image, sr_factor=2.0))
    for mode in ("harmonize", "edit"):
        assert plan_request(spec, RequestLimits(), Request(mode, image=image, mask=mask)).start_scale == 0
        with pytest.raises(RequestError, match="first stage only"):
            plan_request(spec, RequestLimits(), Request(mode, image=image, mask=mask, start_scale=1))
