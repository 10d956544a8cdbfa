"""ConSinGAN killed inside a stage resumes to the bit-identical artifact (growing model, lr groups,
the amplitude set at stage start, the previous discriminator); so does the involution recipe,
whose critic also draws a random crop for its decoders."""

from __future__ import annotations

import pytest
import torch

from sigctl import artifact
from sigctl.artifact import files
from sigctl.config import load_settings
from sigctl.training.checkpoints import load_checkpoint
from sigctl.training.loop import resume, train

from ..conftest import BALLOONS
from .interrupt import Interrupt

# 3 stages of 10 iterations (the lr drops after 8), 2 D + 2 G steps, a checkpoint at every window.
SETTINGS = {
    "optimizer": {"iterations_per_stage": 10, "discriminator_steps": 2, "generator_steps": 2},
    "checkpoint_interval_seconds": 0,
}




@pytest.fixture(scope="module", params=["consingan", "involution"])
def recipe(request):
    return request.param


@pytest.fixture(scope="module")
def whole(tmp_path_factory, recipe):
    run = tmp_path_factory.mktemp(recipe) / "whole"
    train(BALLOONS, run, load_settings("tiny", overrides={**SETTINGS, "recipe": recipe, "checkpoint_interval_seconds": 1e9}))
    return run


@pytest.mark.parametrize("stage, iteration", [(0, 4), (1, 0), (1, 9), (2, 2)])  # head and stage 0; between stages (from the previous D); after the lr drop; the finest
def test_consingan_interrupted_inside_a_stage_resumes_to_the_same_artifact(tmp_path, recipe, whole, stage, iteration):
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, killed, load_settings("tiny", overrides={**SETTINGS, "recipe": recipe}), Interrupt(stage, iteration))
    checkpoint = load_checkpoint(killed)
    assert (checkpoint.completed_stages, checkpoint.stage_iterations_done) == (stage, iteration)
    torch.manual_seed(999)  # the stream a new process would start with is not the one the stage had
    resume(killed)

    a, b = artifact.load(killed), artifact.load(whole)
    assert a.model.model_class == recipe and a.spec.num_stages == 3
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert (killed / files.LOSS_LOG).read_bytes() == (whole / files.LOSS_LOG).read_bytes()
