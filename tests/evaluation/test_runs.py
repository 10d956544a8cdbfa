"""Scores that travel with the model: eval.json at the end of training, read back by info and export."""

import json

import numpy as np
import pytest

from sigctl.errors import ArtifactError
from sigctl.evaluation.record import EVAL_FILE, read_run_scores, scores_parameter
from sigctl.evaluation.runs import TRAINING_EVAL_SAMPLES, evaluate_run, sample_run


def test_training_ends_by_scoring_its_artifact(tiny_run):
    record = json.loads((tiny_run / EVAL_FILE).read_text())
    scores = record["scores"]
    assert record["source"]["kind"] == "run" and record["source"]["recipe"] == "singan"
    assert scores["num_samples"] == TRAINING_EVAL_SAMPLES == len(scores["per_sample"])
    assert (scores["height"], scores["width"]) == (24, 32)  # the training size
    assert scores["pixel_diversity"] > 0.05 and 0.0 <= scores["copy_share"] <= 1.0
    assert scores["swd_levels"][0] > 0 and scores["swd_levels"][2] is None  # 24 px: no 7x7 patch at /4
    assert scores["swd_mean"] is None and any("no level /4" in note and "24x32" in note for note in scores["notes"])


def test_evaluating_a_run_scores_the_samples_the_public_request_path_gives(tiny_run):
    evaluation = evaluate_run(tiny_run, num=3, seed=5, size=(40, 56))
    assert evaluation.samples.shape == (3, 40, 56, 3)
    _, again = sample_run(tiny_run, 1, seed=6, size=(40, 56))
    np.testing.assert_array_equal(again[0], evaluation.samples[1])  # sample i has seed seed + i, chunks or not
    assert all(level is not None for level in evaluation.scores.per_sample[0].swd_levels[:2])
    assert evaluation.record["request"] == {"num_samples": 3, "seed": 5, "height": 40, "width": 56}


def test_what_info_and_the_served_config_read_is_the_headline_without_per_sample_lists(tiny_run):
    scores = read_run_scores(tiny_run)
    assert "per_sample" not in scores and scores["num_samples"] == TRAINING_EVAL_SAMPLES
    assert json.loads(scores_parameter(tiny_run)) == scores


def test_a_run_without_scores_reads_as_none_and_a_damaged_record_is_named(tmp_path):
    assert read_run_scores(tmp_path) is None and scores_parameter(tmp_path) == "null"
    (tmp_path / EVAL_FILE).write_text("{not json")
    with pytest.raises(ArtifactError, match="eval.json is damaged"):
        read_run_scores(tmp_path)

