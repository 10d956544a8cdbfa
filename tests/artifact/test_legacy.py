"""Artifacts written before the model interface still load, and sample the very pixels they did."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from sigctl import artifact
from sigctl.artifact import files
from sigctl.core.operations import Request, execute
from sigctl.errors import ArtifactError

from ..conftest import FORMAT_2_FIXTURE, FORMAT_2_PIXELS

# The requests the fixture's pixels were recorded with (tests/fixtures/make_singan_format2.py).
RECORDED = {
    "sample_seed3_n2": Request("sample", 3, 2),
    "sample_37x61_scale1": Request("sample", 5, 1, 37, 61, 1),
    "reconstruct": Request("reconstruct"),
}


def test_a_format_2_artifact_samples_the_pixels_it_sampled_when_it_was_written():
    loaded = artifact.load(FORMAT_2_FIXTURE)
    assert loaded.manifest.format_version == artifact.FORMAT_VERSION  # upgraded on read, the files untouched
    assert loaded.model.model_class == "singan" and loaded.spec.layout.size_rounding == "ceil"
    expected = np.load(FORMAT_2_PIXELS)
    executor = loaded.executor()
    for name, request in RECORDED.items():
        assert np.array_equal(execute(executor, request), expected[name]), name


def test_a_format_2_artifact_keeps_its_training_settings_as_provenance_even_when_settings_are_renamed(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FORMAT_2_FIXTURE, run)
    raw = json.loads((run / files.MANIFEST).read_text())
    raw["training"]["a_setting_renamed_since"] = raw["training"].pop("report_samples")
    (run / files.MANIFEST).write_text(json.dumps(raw))
    loaded = artifact.load(run)
    assert loaded.manifest.training["a_setting_renamed_since"] == 1
    assert np.array_equal(execute(loaded.executor(), RECORDED["reconstruct"]), np.load(FORMAT_2_PIXELS)["reconstruct"])


def test_a_damaged_format_2_artifact_is_refused_with_the_file_named(tmp_path):
    run = tmp_path / "old"
    shutil.copytree(FORMAT_2_FIXTURE, run)
    (run / "noise.safetensors").unlink()
    with pytest.raises(ArtifactError, match="noise.safetensors is missing"):
        artifact.load(run)


def test_a_format_3_artifact_with_an_unknown_model_class_says_so(tiny_run, tmp_path):
    run = tmp_path / "new"
    shutil.copytree(tiny_run, run)
    raw = json.loads((run / files.MANIFEST).read_text())
    raw["model"]["class_name"] = "diffusion"
    (run / files.MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="unknown model class 'diffusion'"):
        artifact.load(run)
    raw["model"] = {"class_name": "singan", "config": {**raw["model"]["config"], "sizes": []}}
    (run / files.MANIFEST).write_text(json.dumps(raw))
    with pytest.raises(ArtifactError, match="singan model config is invalid"):
        artifact.load(run)
