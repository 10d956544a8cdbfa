"""A bf16 version (`sigctl export --precision bf16`): what it publishes, how far it is from fp32, and
that Triton serves exactly what the same runtime gives in process."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sigctl import artifact
from sigctl.client import SigClient
from sigctl.core.operations import Request, execute
from sigctl.core.precision import CPU_BF16_ENV, cpu_has_bf16
from sigctl.errors import ArtifactError
from sigctl.export import exporter
from sigctl.export.exporter import BF16_MEAN_TOLERANCE_LEVELS, export_artifact
from sigctl.serving.runtime import ModelRuntime
from sigctl.serving.spec import SPEC_FILE, ServedSpec

from ..conftest import BF16_MODEL

REQUESTS = [Request("sample", seed=11, num_samples=2, height=37, width=61), Request("reconstruct"),
            Request("sample", seed=4, num_samples=1, height=24, width=32, start_scale=1)]


def bf16_folder(exported):
    repository = exported.folder.parent.parent
    return repository / BF16_MODEL / "1"


def test_a_bf16_version_publishes_its_precision_and_its_measured_distance_from_fp32(zoo, exported):
    spec = ServedSpec.read(bf16_folder(exported))
    assert spec.precision == "bf16" and spec.formats == ("torchscript",)
    measured = spec.precision_difference
    assert 0 <= measured["mean_levels"] <= BF16_MEAN_TOLERANCE_LEVELS
    config = (bf16_folder(exported).parent / "config.pbtxt").read_text()
    assert 'key: "precision" value: { string_value: "bf16" }' in config
    assert "mean_levels" in config
    if cpu_has_bf16():
        assert measured["mean_levels"] > 0  # it was measured in bf16, not in fp32


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no bf16 instructions")
def test_bf16_samples_stay_within_their_bound_of_fp32_and_differ_from_it(zoo, exported, tiny_run):
    """Bound: the mean |difference| under BF16_MEAN_TOLERANCE_LEVELS levels; measured ~0.2 on this model."""
    fp32, bf16 = artifact.load(tiny_run).executor(), ModelRuntime(bf16_folder(exported))
    assert bf16.engine.precision == "bf16"
    for request in REQUESTS:
        difference = np.abs(execute(fp32, request).astype(int) - execute(bf16, request).astype(int))
        assert difference.mean() <= BF16_MEAN_TOLERANCE_LEVELS, request
    assert difference.max() > 0


def test_without_bf16_instructions_a_bf16_version_serves_exactly_fp32(zoo, exported, monkeypatch):
    monkeypatch.setenv(CPU_BF16_ENV, "0")
    fallback = ModelRuntime(bf16_folder(exported))
    assert fallback.engine.precision == "fp32"
    monkeypatch.delenv(CPU_BF16_ENV)
    fp32 = ModelRuntime(bf16_folder(exported), precision="fp32")
    for request in REQUESTS:
        assert np.array_equal(execute(fallback, request), execute(fp32, request))


def test_triton_serves_a_bf16_version_exactly_as_the_runtime_in_process(triton, zoo, exported):
    local = ModelRuntime(bf16_folder(exported))
    with SigClient(triton.settings.grpc_url, BF16_MODEL) as client:
        assert client.info().served.precision == "bf16"
        for request in REQUESTS:
            assert np.array_equal(client.run(request), execute(local, request)), request


def test_bf16_needs_torchscript_graphs(tiny_run, tmp_path):
    with pytest.raises(ArtifactError, match="bf16 serving runs the TorchScript graphs"):
        export_artifact(tiny_run, tmp_path / "repo", name="m", formats=("onnx",), precision="bf16")
    with pytest.raises(ArtifactError, match="precision must be one of"):
        export_artifact(tiny_run, tmp_path / "repo", name="m", precision="fp16")
    assert not (tmp_path / "repo" / "m").exists()


def test_a_runtime_refuses_a_precision_it_cannot_serve(exported):
    with pytest.raises(ArtifactError, match="precision must be one of"):
        ModelRuntime(exported.folder, precision="int8")
    with pytest.raises(ArtifactError, match="ONNX graphs are served in fp32 only"):
        ModelRuntime(exported.folder, engine="onnx", precision="bf16")


def test_a_spec_written_before_precision_existed_loads_as_fp32(exported):
    values = json.loads((exported.folder / SPEC_FILE).read_text())
    values.pop("precision")
    values.pop("precision_difference")
    assert ServedSpec.from_dict(values).precision == "fp32"


def test_a_bf16_version_too_far_from_fp32_is_not_published(tiny_run, tmp_path, monkeypatch):
    monkeypatch.setattr(exporter, "BF16_MEAN_TOLERANCE_LEVELS", -1.0)  # any measured distance is now too far
    with pytest.raises(ArtifactError, match="nothing was published"):
        export_artifact(tiny_run, tmp_path / "repo", name="m", formats=("torchscript",), precision="bf16")
    assert not any((tmp_path / "repo" / "m").glob("[0-9]*"))
