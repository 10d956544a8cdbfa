"""The served config publishes the scores the run carries (parameter ``scores``)."""

import json
import shutil

from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from sigctl.evaluation.record import EVAL_FILE, read_run_scores
from sigctl.export.exporter import export_artifact


def published_parameters(model_folder) -> dict:
    config = text_format.Parse((model_folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    return {key: value.string_value for key, value in config.parameters.items()}


def test_the_exported_config_publishes_the_runs_scores(exported, tiny_run):
    published = json.loads(published_parameters(exported.folder.parent)["scores"])
    assert published == read_run_scores(tiny_run)
    assert published["num_samples"] == 8 and {"swd_mean", "sifid_64", "sifid_192", "pixel_diversity", "copy_share"} <= set(published)


def test_a_run_without_scores_publishes_null(tmp_path, tiny_run):
    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / EVAL_FILE).unlink()  # as a run trained before sigctl scored its models
    result = export_artifact(run, tmp_path / "repo", name="unscored", formats=("onnx",))
    assert published_parameters(result.folder.parent)["scores"] == "null"
