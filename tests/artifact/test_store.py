"""An artifact loads back to identical samples, and every kind of damage is named clearly."""

import json
import shutil

import numpy as np
import pytest

from sigctl import artifact
from sigctl.artifact import files
from sigctl.core.in_process import sample_images
from sigctl.errors import ArtifactError


@pytest.fixture
def run_copy(tiny_run, tmp_path):
    copy = tmp_path / "run"
    shutil.copytree(tiny_run, copy)
    return copy


def test_save_load_gives_identical_samples(tiny_run, tmp_path):
    loaded = artifact.load(tiny_run)
    again = tmp_path / "again"
    again.mkdir()
    for name in (files.REFERENCE, files.SAMPLES):
        shutil.copy(tiny_run / name, again / name)
    artifact.save(again, loaded.model, loaded.manifest.training, loaded.manifest.image, 1.0, "cpu")
    reloaded = artifact.load(again)
    expected = sample_images(loaded.model, 3, seed=4, height=30, width=50)
    assert np.array_equal(sample_images(reloaded.model, 3, seed=4, height=30, width=50), expected)


def test_manifest_describes_the_pyramid(tiny_run):
    manifest = artifact.load(tiny_run).manifest
    assert manifest.format_version == artifact.FORMAT_VERSION
    spec = artifact.load(tiny_run).spec
    assert manifest.model.class_name == spec.model_class == "singan"
    assert spec.noise_amplitudes[0] == 1.0 and all(amplitude > 0 for amplitude in spec.noise_amplitudes)
    assert spec.layout.finest_size == (manifest.image.height, manifest.image.width)
    assert manifest.training["recipe"] == "singan"  # provenance, kept as written
    assert set(files.REQUIRED_FILES) <= set(manifest.files)


def test_missing_weights_are_named(run_copy):
    (run_copy / files.MODEL_WEIGHTS).unlink()
    with pytest.raises(ArtifactError, match="model.safetensors is missing"):
        artifact.load(run_copy)


def test_tampered_weights_fail_the_checksum(run_copy):
    data = bytearray((run_copy / files.MODEL_WEIGHTS).read_bytes())
    data[-10] ^= 0xFF
    (run_copy / files.MODEL_WEIGHTS).write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="model.safetensors does not match its checksum"):
        artifact.load(run_copy)


def test_newer_format_is_refused_with_advice(run_copy):
    manifest = json.loads((run_copy / files.MANIFEST).read_text())
    manifest["format_version"] = artifact.FORMAT_VERSION + 1
    (run_copy / files.MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(ArtifactError, match="upgrade sigctl"):
        artifact.load(run_copy)


def test_corrupted_manifest_and_non_artifacts(run_copy, tmp_path):
    (run_copy / files.MANIFEST).write_text("{not json")
    with pytest.raises(ArtifactError, match="corrupted"):
        artifact.load(run_copy)
    with pytest.raises(ArtifactError, match="not a directory"):
        artifact.load(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ArtifactError, match="manifest.json is missing"):
        artifact.load(tmp_path / "empty")


def test_deleting_a_report_does_not_break_sampling(run_copy):
    (run_copy / files.SAMPLES).unlink()
    assert artifact.load(run_copy).model.num_trained > 1


def test_no_pickles_in_the_artifact(tiny_run):
    suffixes = {path.suffix for path in tiny_run.rglob("*") if path.is_file()}
    assert suffixes <= {".json", ".jsonl", ".png", ".safetensors"}
