"""Training a person can watch: TensorBoard event files with the logged losses and stage-end sample grids."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sigctl.cli import app
from sigctl.core.in_process import TorchExecutor, sample_images
from sigctl.core.pixels import to_uint8
from sigctl.training.watching import SAMPLES_TAG, TENSORBOARD_DIR, preview_images

from ..conftest import BALLOONS

pytest.importorskip("tensorboard", reason="the watch extra (tensorboard) is not installed: pip install -e '.[watch]'")


def read_events(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "images": 0})
    events.Reload()
    return events


def test_train_with_tensorboard_writes_losses_and_a_grid_per_stage_beside_the_canonical_log(tmp_path):
    run = tmp_path / "run"
    iterations = 6  # a few per stage: the test is about what is written, not about learning
    result = CliRunner().invoke(app, ["train", str(BALLOONS), "--preset", "tiny", "--iterations", str(iterations), "--out", str(run), "--tensorboard"])
    assert result.exit_code == 0, result.output
    # The loop refuses a run directory that is not empty: this passing means the observer opened
    # its event files only once the run had started, not when it was made.
    assert "tensorboard --logdir" in result.output
    events = read_events(run / TENSORBOARD_DIR)
    stages = len(json.loads((run / "manifest.json").read_text())["model"]["config"]["sizes"])
    rec = events.Scalars("loss/rec")
    logged = [json.loads(line) for line in (run / "losses.jsonl").read_text().splitlines()]
    # Every log window of every stage (windows of one iteration at this length), as losses.jsonl has them.
    assert [e.step for e in rec] == [entry["stage"] * iterations + entry["iteration"] for entry in logged] == list(range(stages * iterations))
    assert [e.value for e in rec] == pytest.approx([entry["rec"] for entry in logged], rel=1e-6)
    assert {"loss/d", "loss/gp", "loss/g_adv", "loss/rec"} <= set(events.Tags()["scalars"])
    grids = events.Images(SAMPLES_TAG)
    assert [g.step for g in grids] == [(stage + 1) * iterations - 1 for stage in range(stages)]
    # losses.jsonl stays the canonical log, complete as without --tensorboard.
    assert len((run / "losses.jsonl").read_text().splitlines()) > 0


@pytest.mark.parametrize("model", ["singan", "consingan"])
def test_previews_of_a_finished_model_are_its_reconstruction_and_samples(tiny_run, zoo_runs, model):
    from sigctl import artifact

    loaded = artifact.load(tiny_run if model == "singan" else zoo_runs / "balloons_consingan").model
    reconstruction, *samples = preview_images(loaded, 2, seed=4)
    np.testing.assert_array_equal(np.stack(samples), sample_images(loaded, 2, seed=4))
    np.testing.assert_array_equal(reconstruction, to_uint8(TorchExecutor(loaded).reconstruction()[0]))



@pytest.mark.parametrize("recipe", ["singan", "consingan", "involution", "petsgan"])
def test_watching_a_run_does_not_change_what_it_trains(tmp_path, recipe):
    # The previews sample the model between stages (eval mode); every module's mode must come back,
    # or SinGAN's frozen BatchNorm scales would train on in training mode.
    for name, extra in (("plain", []), ("watched", ["--tensorboard"])):
        args = ["train", str(BALLOONS), "--recipe", recipe, "--preset", "tiny", "--iterations", "4", "--out", str(tmp_path / name), *extra]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, result.output
    plain, watched = (tmp_path / "plain" / "model.safetensors").read_bytes(), (tmp_path / "watched" / "model.safetensors").read_bytes()
    assert plain == watched
