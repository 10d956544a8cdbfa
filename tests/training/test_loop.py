"""Training runs, refuses to clobber runs, and a killed run resumes to the same result."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml

from sigctl import artifact
from sigctl.artifact import files
from sigctl.config import load_settings
from sigctl.core.in_process import sample_images
from sigctl.errors import RunStateError
from sigctl.training.loop import train

from ..conftest import BALLOONS


def test_training_writes_the_artifact_and_reports(tiny_run):
    for name in (files.MANIFEST, files.MODEL_WEIGHTS, files.REFERENCE, files.SAMPLES, files.LOSS_PLOT, files.LOSS_LOG):
        assert (tiny_run / name).stat().st_size > 0, name
    log_lines = (tiny_run / files.LOSS_LOG).read_text().splitlines()
    assert {"d", "gp", "g_adv", "rec"} <= set(eval_json(log_lines[0]))


def test_existing_runs_are_never_overwritten(tiny_run, tiny_settings):
    with pytest.raises(RunStateError, match="already holds a trained artifact"):
        train(BALLOONS, tiny_run, tiny_settings)


def eval_json(line):
    import json

    return json.loads(line)


def _slow_tiny_config(tmp_path):
    config = tmp_path / "slow.yaml"
    # Checkpoints a few times a second (each stage takes seconds), so the kill lands inside a stage with one on disk.
    config.write_text(yaml.safe_dump({"optimizer": {"iterations_per_scale": 150}, "pyramid": {"max_size": 40}, "checkpoint_interval_seconds": 0.25}))
    return config


def _sigctl(*args):
    return [sys.executable, "-m", "sigctl", *map(str, args)]


def _position(state_path):
    try:
        state = json.loads(state_path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    return state["completed_stages"], state["stage_iterations_done"]


@pytest.mark.slow
def test_a_run_killed_inside_a_stage_resumes_to_the_bit_identical_artifact(tmp_path):
    config = _slow_tiny_config(tmp_path)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen(
        _sigctl("train", BALLOONS, "--preset", "tiny", "--config", config, "--out", killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = killed / files.CHECKPOINTS / "state.json"
    deadline = time.time() + 300
    # Inside stage 1 or later: the pyramid so far, the previous discriminator and the stage's state all matter.
    while time.time() < deadline and process.poll() is None:
        position = _position(state)
        if position is not None and position[0] >= 1 and position[1] > 0:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    position = _position(state)
    assert position is not None and position[0] >= 1 and position[1] > 0, f"no checkpoint inside a stage was written ({position})"
    assert not (killed / files.MANIFEST).exists(), "the run finished before it could be killed"

    # An unfinished run is neither sampled from nor silently restarted.
    with pytest.raises(Exception, match="resume"):
        artifact.load(killed)
    refused = subprocess.run(_sigctl("train", BALLOONS, "--preset", "tiny", "--out", killed), capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = subprocess.run(_sigctl("train", "--resume", killed), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    train(BALLOONS, whole, load_settings("tiny", config).model_copy(update={"checkpoint_interval_seconds": 1e9}))

    a, b = artifact.load(killed), artifact.load(whole)
    assert a.spec.num_stages == b.spec.num_stages == a.model.layout.num_scales
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert (killed / files.LOSS_LOG).read_bytes() == (whole / files.LOSS_LOG).read_bytes()
    assert np.array_equal(sample_images(a.model, 2, seed=9), sample_images(b.model, 2, seed=9))
