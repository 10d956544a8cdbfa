"""Export: parity with PyTorch in both formats, immutable atomic versions, a valid config."""

import hashlib
import json
import subprocess
import sys

import numpy as np
import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from sigctl import artifact
from sigctl.core.operations import Request, sample_float
from sigctl.core.in_process import sample_images
from sigctl.core.requests import RequestLimits
from sigctl.errors import RequestError, SettingsError
from sigctl.export.exporter import export_artifact, parity_cases
from sigctl.export.repository import MARKER, publish_version
from sigctl.serving import contract
from sigctl.serving.runtime import ModelRuntime
from sigctl.serving.spec import ServedSpec


@pytest.fixture(scope="module")
def pyramid(tiny_run):
    return artifact.load(tiny_run).model


@pytest.mark.parametrize("fmt, tolerance", [("onnx", 1e-4), ("torchscript", 1e-6)])
def test_both_formats_match_pytorch_at_odd_sizes_and_start_scales(exported, tiny_run, pyramid, fmt, tolerance):
    served = ModelRuntime(exported.folder, engine=fmt)
    eager_executor = artifact.load(tiny_run).executor()
    cases = parity_cases(pyramid.layout) + [(19, 64, 0), (50, 33, pyramid.num_trained - 1)]
    assert (37, 251, 0) in cases
    for height, width, start in cases:
        request = Request(seed=5, num_samples=3, height=height, width=width, start_scale=start)
        eager = sample_float(eager_executor, request)
        got = sample_float(served, request)
        assert got.shape == eager.shape == (3, 3, height, width)
        assert np.abs(got - eager).max() < tolerance, (fmt, height, width, start)
    assert exported.parity[fmt] < tolerance


def test_served_uint8_samples_equal_in_process_within_one_level(exported, pyramid):
    served = ModelRuntime(exported.folder, engine="onnx").sample(4, 11, 40, 90, 0)
    local = sample_images(pyramid, 4, 11, 40, 90, 0)
    difference = np.abs(served.astype(int) - local.astype(int))
    # ONNX convolutions round differently in the last float bits (~1e-5): a value that sits on a
    # rounding boundary can land one level apart. Nothing more may differ.
    assert difference.max() <= 1
    assert (difference > 0).mean() < 0.01


def test_a_second_export_adds_version_2_and_leaves_version_1_untouched(tiny_run, tmp_path):
    first = export_artifact(tiny_run, tmp_path, name="m", formats=("onnx",))
    before = _digest_tree(first.folder)
    second = export_artifact(tiny_run, tmp_path, name="m", formats=("onnx",))
    assert (first.version, second.version) == (1, 2)
    assert _digest_tree(first.folder) == before
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [MARKER, "1", "2", "config.pbtxt"]


def test_a_failed_build_publishes_nothing(tmp_path):
    def broken(folder):
        (folder / "half-written").write_text("x")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        publish_version(tmp_path, "m", broken, "name: \"m\"\n")
    assert [p.name for p in (tmp_path / "m").iterdir()] == [MARKER]  # no version, no staging folder


def test_bad_model_names_are_refused(tiny_run, tmp_path):
    with pytest.raises(SettingsError, match="not usable"):
        export_artifact(tiny_run, tmp_path, name="../evil")


def test_config_is_valid_triton_protobuf_with_the_model_spec_rendered_from_one_source(exported):
    text = (exported.folder.parent / "config.pbtxt").read_text()
    config = text_format.Parse(text, model_config_pb2.ModelConfig())
    assert config.name == "balloons" and config.backend == "python"
    assert {i.name for i in config.input} == {spec.name for spec in contract.INPUTS}
    assert {"SEED", "MODE", "IMAGE", "MASK", "SR_FACTOR", "FRAMES"} <= {i.name for i in config.input}
    assert config.output[0].name == "IMAGES"
    on_disk = ServedSpec.read(exported.folder)
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    # One source: the config publishes exactly the version's spec, and its summary keys agree with it.
    assert ServedSpec.from_config_parameters(parameters) == on_disk
    assert json.loads(parameters["stage_sizes"]) == [list(size) for size in on_disk.model.layout.sizes]
    assert json.loads(parameters["limits"])["max_samples"] == 64 == on_disk.limits.max_samples
    assert json.loads(parameters["modes"]) == list(on_disk.model.modes) and "super_resolve" not in on_disk.model.modes
    assert [graph.name for graph in on_disk.model.graphs] == [f"stage_{n:02d}" for n in range(on_disk.model.num_stages)]


def test_the_served_runtime_runs_without_torch(exported):
    script = (
        "import sys; sys.modules['torch'] = None; "  # any torch import now fails
        f"sys.path.insert(0, {str(exported.folder)!r}); "
        "import sigctl; from sigctl.serving.runtime import ModelRuntime; "
        f"assert sigctl.__file__.startswith({str(exported.folder)!r}), sigctl.__file__; "
        f"print(ModelRuntime({str(exported.folder)!r}).sample(2, 0, 20, 30).shape)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "(2, 20, 30, 3)" in result.stdout


def _digest_tree(folder):
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_native_per_scale_models_are_valid_configs_with_runnable_graphs(tiny_run, tmp_path):
    import onnxruntime as ort
    import torch

    result = export_artifact(tiny_run, tmp_path / "repo", name="m", native_repository=tmp_path / "native")
    scales = ServedSpec.read(result.folder).model.num_stages
    assert len(result.native_models) == 2 * scales
    previous = np.zeros((1, 3, 10, 12), np.float32)
    noise = np.random.default_rng(0).standard_normal((1, 3, 16, 20)).astype(np.float32)
    for model in result.native_models:
        config = text_format.Parse((tmp_path / "native" / model / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
        graph = tmp_path / "native" / model / "1" / config.default_model_filename
        inputs = {i.name: value for i, value in zip(config.input, (previous, noise))}
        if config.backend == "onnxruntime":
            out = ort.InferenceSession(str(graph)).run([config.output[0].name], inputs)[0]
        else:
            assert config.backend == "pytorch" and config.output[0].name == "state__0"
            module = torch.jit.load(str(graph))
            out = module(**{k: torch.from_numpy(v) for k, v in inputs.items()}).detach().numpy()
        assert out.shape == (1, 3, 16, 20)


def _consingan_spec():
    """An (untrained) ConSinGAN model's spec: noise margins, seeded reconstruction noise, its modes."""
    from sigctl.config import load_settings
    from sigctl.training.recipes.consingan import ConSinGANRecipe

    settings = load_settings("tiny", overrides={"recipe": "consingan"})
    return ConSinGANRecipe.untrained_model(settings, settings.plan_pyramid(40, 52)).spec()


def test_the_spec_a_version_publishes_reads_back_as_the_model_made_it(exported, tiny_run):
    # Both recipes' specs survive the JSON of model_spec.json and config.pbtxt field for field
    # (compared with the spec the model itself makes, not with another read-back copy).
    consingan = _consingan_spec()
    assert consingan.noises[1].margin == 3 and consingan.reconstruction_noise == "seeded" and consingan.reconstruction_seed > 0
    limits = RequestLimits(max_samples=5, max_pixels=300 * 300, max_frames=7)
    for spec in (artifact.load(tiny_run).spec, consingan):
        served = ServedSpec(spec, limits, ("onnx",), {"sigctl_version": "test"})
        assert ServedSpec.from_dict(json.loads(json.dumps(served.to_dict()))) == served
        assert ServedSpec.from_config_parameters(served.config_parameters()) == served
    assert ServedSpec.read(exported.folder).model == artifact.load(tiny_run).spec


def test_the_config_summary_is_rendered_from_the_version_spec_with_its_own_limits():
    limits = RequestLimits(max_samples=5, max_pixels=300 * 300, max_frames=7)
    spec = _consingan_spec()
    parameters = ServedSpec(spec, limits, ("onnx",), {"sigctl_version": "test"}).config_parameters()
    assert json.loads(parameters["limits"]) == limits.as_dict()
    assert json.loads(parameters["modes"]) == list(spec.modes) and parameters["recipe"] == "consingan"
    assert json.loads(parameters["stage_sizes"]) == [list(size) for size in spec.layout.sizes]
    assert parameters["num_stages"] == str(spec.num_stages) and parameters["sigctl_version"] == "test"


def test_export_publishes_and_enforces_the_limits_it_was_given(tiny_run, tmp_path):
    limits = RequestLimits(max_samples=3)
    result = export_artifact(tiny_run, tmp_path, name="m", formats=("torchscript",), limits=limits)
    config = text_format.Parse((result.folder.parent / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    assert ServedSpec.from_config_parameters(parameters).limits == limits == ServedSpec.read(result.folder).limits
    assert json.loads(parameters["limits"])["max_samples"] == 3
    with pytest.raises(RequestError, match="between 1 and 3"):
        ModelRuntime(result.folder, engine="torchscript").sample(4, 0)
