"""The CLI as a user types it (typer's CliRunner): outputs, one-line errors, exit codes."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app

from ..conftest import BALLOONS

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_train_sample_info_round_trip(tmp_path):
    run = tmp_path / "run"
    result = invoke("train", BALLOONS, "--preset", "tiny", "--out", run, "--seed", 1)
    assert result.exit_code == 0, result.output
    assert "trained" in result.output and (run / "manifest.json").exists()

    info = invoke("info", run)
    assert info.exit_code == 0 and "scales" in info.output and "noise amplitude" in info.output

    out = tmp_path / "samples"
    result = invoke("sample", "--local", run, "--num", 3, "--height", 37, "--width", 61, "--start-scale", 1, "--seed", 5, "--out", out)
    assert result.exit_code == 0, result.output
    written = sorted(p.name for p in out.glob("seed*.png"))
    assert written == ["seed5_37x61_start1.png", "seed6_37x61_start1.png", "seed7_37x61_start1.png"]
    assert Image.open(out / written[0]).size == (61, 37)
    assert (out / "grid.png").exists()

    again = tmp_path / "again"
    invoke("sample", "--local", run, "--num", 1, "--height", 37, "--width", 61, "--start-scale", 1, "--seed", 6, "--out", again)
    assert np.array_equal(np.asarray(Image.open(again / "seed6_37x61_start1.png")), np.asarray(Image.open(out / written[1])))


def test_factor_trains_singan_for_super_resolution(tmp_path):
    import math

    low = BALLOONS.parent / "33039_LR.png"
    result = invoke("train", low, "--preset", "tiny", "--factor", 4, "--out", tmp_path / "sr")
    assert result.exit_code == 0, result.output
    manifest = json.loads((tmp_path / "sr" / "manifest.json").read_text())
    model = manifest["model"]
    assert manifest["recipe"] == "singan" and model["class_name"] == "singan" and model["config"]["super_resolution_factor"] == 4.0
    assert manifest["training"]["loss"]["reconstruction_weight"] == 100.0
    assert math.isclose(model["config"]["scale_factor"], 4 ** (1 / 6))  # r^k = 4 with r closest to 2^(1/3)
    refused = invoke("train", low, "--preset", "tiny", "--recipe", "sr", "--out", tmp_path / "x")
    assert refused.exit_code == 2 and "recipe" in refused.output  # super-resolution is a setting (--factor), not a recipe


def test_dry_run_prints_settings_and_pyramid_without_training(tmp_path):
    result = invoke("train", BALLOONS, "--preset", "quick", "--iterations", 7, "--dry-run", "--out", tmp_path / "never")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output[: result.output.index("singan (")])
    assert settings["optimizer"]["iterations_per_scale"] == 7
    assert "singan (reference plan): 5 stages" in result.output
    assert not (tmp_path / "never").exists()


def test_dry_run_of_the_consingan_paper_preset_plans_its_dense_stages_for_balloons(tmp_path):
    result = invoke("train", BALLOONS, "--recipe", "consingan", "--iterations", 9, "--dry-run", "--out", tmp_path / "never")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output[: result.output.index("consingan (")])
    assert settings["recipe"] == "consingan" and settings["optimizer"]["iterations_per_stage"] == 9
    assert "consingan (dense spacing): 6 stages, finest 186x248, 0.67 M generator parameters" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.count("│") == 5]
    sizes = [row[3] for row in rows if row[1].isdigit()]
    assert sizes == ["25x34", "32x42", "42x56", "63x84", "125x167", "186x248"]


def test_dry_run_of_the_petsgan_paper_preset_plans_its_three_stages_for_balloons(tmp_path):
    result = invoke("train", BALLOONS, "--recipe", "petsgan", "--iterations", 9, "--max-size", 200, "--dry-run", "--out", tmp_path / "never")
    assert result.exit_code == 0, result.output
    settings = json.loads(result.output[: result.output.index("petsgan (")])
    assert settings["optimizer"]["iterations_per_phase"] == 9 and settings["size"]["max_size"] == 200
    # 186x248 fitted to 150x200, sides rounded to multiples of 8: 152x200; the generator at 1/8.
    assert "petsgan (generator at 1/8 size, patch transfer, 8x restoration): 3 stages, finest 152x200" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.count("│") == 5]
    assert [row[3] for row in rows if row[1].isdigit()] == ["19x25", "19x25", "152x200"]
    assert not (tmp_path / "never").exists()


def test_dry_run_of_the_paper_preset_plans_singans_pyramid_for_balloons():
    result = invoke("train", BALLOONS, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "9 stages, factor 1.2851" in result.output and "29.3 GMAC per sample" in result.output
    rows = [line.split() for line in result.output.splitlines() if line.count("│") == 5]
    sizes_and_channels = [(row[3], row[5]) for row in rows if row[1].isdigit()]
    assert sizes_and_channels[0] == ("25x34", "32") and sizes_and_channels[-1] == ("186x248", "128")
    assert [c for _, c in sizes_and_channels] == ["32"] * 4 + ["64"] * 4 + ["128"]


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t: ["train", t / "missing.png", "--out", t / "r"], "no such file"),
        (lambda t: ["train", _text_file(t), "--out", t / "r"], "not an image file"),
        (lambda t: ["train", _small_image(t), "--out", t / "r"], "shorter side must be at least"),
        (lambda t: ["train", BALLOONS, "--preset", "nope"], "unknown preset"),
        (lambda t: ["train", BALLOONS, "--device", "tpu", "--dry-run"], "device"),
        (lambda t: ["train"], "give the training IMAGE"),
        (lambda t: ["sample", "--local", t], "manifest.json is missing"),
        (lambda t: ["sample"], "--local RUN_DIR"),
        (lambda t: ["info", t / "nothing"], "not a directory"),
    ],
)
def test_bad_input_is_one_clear_line_not_a_traceback(tmp_path, make_args, message):
    result = invoke(*make_args(tmp_path))
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output


def test_absurd_sample_requests_are_refused(tiny_run, tmp_path):
    for args, message in (
        (["--height", 100000, "--width", 100000], "exceeds the limit"),
        (["--start-scale", 50], "out of range"),
        (["--num", 0], "number of samples"),
    ):
        result = invoke("sample", "--local", tiny_run, "--out", tmp_path, *args)
        assert result.exit_code == 2 and message in result.output, result.output


def _text_file(folder):
    path = folder / "notes.png"
    path.write_text("this is not a picture")
    return path


def _small_image(folder):
    path = folder / "small.png"
    Image.new("RGB", (12, 40), "red").save(path)
    return path
