"""Training runs, refuses to clobber runs, and a killed run resumes to the same result."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
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
    config.write_text(yaml.safe_dump({"optimizer": {"iterations_per_scale": 150}, "pyramid": {"max_size": 40}}))
    return config


def _sigctl(*args):
    return [sys.executable, "-m", "sigctl", *map(str, args)]


@pytest.mark.slow
def test_a_killed_run_resumes_to_the_same_pyramid(tmp_path):
    config = _slow_tiny_config(tmp_path)
    killed, whole = tmp_path / "killed", tmp_path / "whole"
    process = subprocess.Popen(
        _sigctl("train", BALLOONS, "--preset", "tiny", "--config", config, "--out", killed),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    state = killed / files.CHECKPOINTS / "state.json"
    deadline = time.time() + 120
    while not state.exists() and time.time() < deadline and process.poll() is None:
        time.sleep(0.05)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    assert state.exists(), "training never wrote its first checkpoint"
    assert not (killed / files.MANIFEST).exists(), "the run finished before it could be killed"

    # An unfinished run is neither sampled from nor silently restarted.
    with pytest.raises(Exception, match="resume"):
        artifact.load(killed)
    refused = subprocess.run(_sigctl("train", BALLOONS, "--preset", "tiny", "--out", killed), capture_output=True, text=True)
    assert refused.returncode == 2 and "--resume" in refused.stderr

    resumed = subprocess.run(_sigctl("train", "--resume", killed), capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    train(BALLOONS, whole, load_settings("tiny", config))

    a, b = artifact.load(killed), artifact.load(whole)
    assert len(a.manifest.scales) == len(b.manifest.scales) == a.model.layout.num_scales
    # Each stage's randomness depends only on (seed, stage), so resuming changes nothing.
    assert np.array_equal(sample_images(a.model, 2, seed=9), sample_images(b.model, 2, seed=9))
