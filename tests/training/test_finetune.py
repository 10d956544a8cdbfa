"""ConSinGAN's fine-tuning: a new artifact trained further with the naive image at stage 0.

For both recipes that train ConSinGAN's way: ``consingan`` and ``involution`` (seed 004)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from sigctl import artifact
from sigctl.artifact import files
from sigctl.core.operations import Request, execute
from sigctl.core.paths import is_temporary
from sigctl.errors import SettingsError
from sigctl.training.finetune import finetune
from sigctl.training.loop import TrainingObserver

from ..conftest import IMAGES

NAIVE = IMAGES / "harmonization" / "starry_night_naive.png"
OTHER = IMAGES / "editing" / "stone_edit.png"


def _digest_tree(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def _weights(run):
    return artifact.load(run).model.state_dict()


@pytest.fixture(scope="module", params=["balloons_consingan", "balloons_involution"])
def consingan_run(zoo_runs, request):
    return zoo_runs / request.param


def test_finetuning_writes_a_new_artifact_and_leaves_the_source_untouched(consingan_run, tmp_path):
    before = _digest_tree(consingan_run)
    manifest = finetune(consingan_run, NAIVE, tmp_path / "tuned", iterations=5, device="cpu")
    assert _digest_tree(consingan_run) == before
    assert manifest.recipe == artifact.load(consingan_run).manifest.recipe and manifest.training["finetune"]["iterations"] == 5
    assert manifest.model.class_name == artifact.load(consingan_run).manifest.model.class_name
    source, tuned = _weights(consingan_run), _weights(tmp_path / "tuned")
    # The newest stages (all three of this tiny model) and the tail moved.
    assert any(not torch.equal(source[k], tuned[k]) for k in source)
    assert torch.equal(source["noise_amplitudes"], tuned["noise_amplitudes"])  # amplitudes are not re-estimated
    request = Request("harmonize", seed=0, image=np.asarray(artifact.load(tmp_path / "tuned").executor().reference()), mask=np.full((24, 32), 255, np.uint8))
    assert execute(artifact.load(tmp_path / "tuned").executor(), request).shape == (1, 24, 32, 3)


def test_the_naive_image_is_what_the_fakes_start_from(consingan_run, tmp_path):
    finetune(consingan_run, NAIVE, tmp_path / "a", iterations=3, device="cpu")
    finetune(consingan_run, NAIVE, tmp_path / "b", iterations=3, device="cpu")
    finetune(consingan_run, OTHER, tmp_path / "c", iterations=3, device="cpu")
    a, b, c = _weights(tmp_path / "a"), _weights(tmp_path / "b"), _weights(tmp_path / "c")
    assert all(torch.equal(a[k], b[k]) for k in a)  # deterministic
    assert any(not torch.equal(a[k], c[k]) for k in a)  # another naive image, another result


def test_finetuning_starts_from_the_final_discriminator_when_the_checkpoint_is_there(consingan_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(consingan_run, copy)
    finetune(copy, NAIVE, tmp_path / "with", iterations=3, device="cpu")
    shutil.rmtree(copy / files.CHECKPOINTS)
    finetune(copy, NAIVE, tmp_path / "without", iterations=3, device="cpu")  # still works, with a fresh discriminator
    with_d, without_d = _weights(tmp_path / "with"), _weights(tmp_path / "without")
    assert any(not torch.equal(with_d[k], without_d[k]) for k in with_d)


def test_finetuning_refuses_singan_runs_and_existing_outputs(tiny_run, consingan_run, tmp_path):
    with pytest.raises(SettingsError, match="fine-tuning is for ConSinGAN-family models"):
        finetune(tiny_run, NAIVE, tmp_path / "x", iterations=2, device="cpu")
    with pytest.raises(SettingsError, match="between 1 and"):
        finetune(consingan_run, NAIVE, tmp_path / "x", iterations=0, device="cpu")
    with pytest.raises(SettingsError, match="--input-noise must be between 0 and 1"):
        finetune(consingan_run, NAIVE, tmp_path / "x", iterations=2, device="cpu", input_noise=5.0)
    assert not (tmp_path / "x").exists()
    from sigctl.errors import RunStateError

    with pytest.raises(RunStateError, match="already holds a trained artifact"):
        finetune(consingan_run, NAIVE, consingan_run, iterations=2, device="cpu")


class StopAt(TrainingObserver):
    def step(self, stage, iteration):
        if iteration == 2:
            raise KeyboardInterrupt


def test_an_interrupted_finetune_leaves_nothing_behind(consingan_run, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        finetune(consingan_run, NAIVE, tmp_path / "tuned", iterations=10, observer=StopAt(), device="cpu")
    assert not (tmp_path / "tuned").exists()
    assert not [p for p in tmp_path.iterdir() if is_temporary(p)]
