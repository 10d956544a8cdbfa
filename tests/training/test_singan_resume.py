"""SinGAN killed inside a stage resumes to the bit-identical artifact, and its steps never wait for the device."""

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
from .test_singan_rules import begin, make

# 3 scales of 12 iterations (the lr drops after 9), warm-started D and G: every resume rule matters.
SETTINGS = {"optimizer": {"iterations_per_scale": 12, "discriminator_steps": 2, "generator_steps": 2}, "checkpoint_interval_seconds": 0}




@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    run = tmp_path_factory.mktemp("singan") / "whole"
    train(BALLOONS, run, load_settings("tiny", overrides={**SETTINGS, "checkpoint_interval_seconds": 1e9}))
    return run


@pytest.mark.parametrize("stage, iteration", [(0, 5), (1, 10), (2, 3)])  # z* and amplitude 1; after the lr drop; the finest
def test_singan_interrupted_inside_a_stage_resumes_to_the_same_artifact(tmp_path, whole, stage, iteration):
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, killed, load_settings("tiny", overrides=SETTINGS), Interrupt(stage, iteration))
    checkpoint = load_checkpoint(killed)
    assert (checkpoint.completed_stages, checkpoint.stage_iterations_done) == (stage, iteration)  # windows of 1 iteration
    torch.manual_seed(999)  # the stream a new process would start with is not the one the stage had
    resume(killed)

    a, b = artifact.load(killed), artifact.load(whole)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert (killed / files.LOSS_LOG).read_bytes() == (whole / files.LOSS_LOG).read_bytes()
    assert (killed / files.SAMPLES).read_bytes() == (whole / files.SAMPLES).read_bytes()


def test_a_singan_step_returns_tensors_and_reads_no_value_back(monkeypatch):
    recipe = make()
    begin(recipe, 1 - 1)
    recipe.step(0)  # Adam makes its step counters at the first step
    # Adam reads its own CPU step counters (.item()); those stay on the CPU even when training on a GPU.
    counters = {id(state["step"]) for optimizer in (recipe.generator_optimizer, recipe.discriminator_optimizer) for state in optimizer.state.values()}
    reads = []
    for name in ("item", "tolist", "cpu", "numpy", "__float__", "__bool__", "__int__", "__index__", "__format__"):
        original = getattr(torch.Tensor, name)
        monkeypatch.setattr(torch.Tensor, name, lambda self, *a, _o=original, _n=name, **k: (reads.append(_n) if id(self) not in counters else None, _o(self, *a, **k))[1])
    losses = recipe.step(1)
    monkeypatch.undo()
    assert reads == []
    assert set(losses) == {"d", "gp", "g", "g_adv", "rec"}
    assert all(isinstance(v, torch.Tensor) and v.ndim == 0 and not v.requires_grad for v in losses.values())
