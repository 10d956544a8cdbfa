"""Training a person can watch: TensorBoard event files with every step's losses and stage-end sample grids."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from sigctl.cli import app
from sigctl.core.pyramid import sample_images
from sigctl.training.watching import SAMPLES_TAG, TENSORBOARD_DIR, preview_samples

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
    stages = len(json.loads((run / "manifest.json").read_text())["scales"])
    rec = events.Scalars("loss/rec")
    assert [e.step for e in rec] == list(range(stages * iterations))  # every step of every stage
    assert {"loss/d", "loss/gp", "loss/g_adv", "loss/rec"} <= set(events.Tags()["scalars"])
    grids = events.Images(SAMPLES_TAG)
    assert [g.step for g in grids] == [(stage + 1) * iterations - 1 for stage in range(stages)]
    # losses.jsonl stays the canonical log, complete as without --tensorboard.
    assert len((run / "losses.jsonl").read_text().splitlines()) > 0


def test_previews_of_the_finished_pyramid_are_its_samples(tiny_run):
    from sigctl import artifact

    pyramid = artifact.load(tiny_run).pyramid
    np.testing.assert_array_equal(np.stack(preview_samples(pyramid, 2, seed=4)), sample_images(pyramid, 2, seed=4))

