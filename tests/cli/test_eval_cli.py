"""``sigctl eval`` as a user types it: a trained run, a folder of PNGs, and every way to get it wrong."""

import json
import os

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app
from sigctl.evaluation import limits

from ..conftest import BALLOONS
from ..metrics.images import shifted_blocks

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def save(path, rgb):
    Image.fromarray(np.ascontiguousarray(rgb)).save(path)
    return path


@pytest.fixture(scope="module")
def balloons():
    return np.asarray(Image.open(BALLOONS).convert("RGB"))


def test_eval_of_a_run_prints_the_table_and_writes_json_and_the_report(tmp_path, tiny_run):
    out = tmp_path / "eval"
    result = invoke("eval", tiny_run, "--num", 4, "--size", "40x56", "--seed", 3, "--out", out)
    assert result.exit_code == 0, result.output
    assert "patch SWD x100 (mean)" in result.output and "copy share" in result.output and "4 at 40x56" in result.output
    record = json.loads((out / "eval.json").read_text())
    assert record["request"] == {"num_samples": 4, "seed": 3, "height": 40, "width": 56}
    assert len(record["scores"]["per_sample"]) == 4 and record["scores"]["swd_levels"][0] > 0
    assert (out / "report.html").read_text().startswith("<!DOCTYPE html>")
    assert json.loads((tiny_run / "eval.json").read_text())["scores"]["num_samples"] == 8  # the run's own scores stay


def test_record_stores_the_scores_in_the_run_and_info_shows_them(tmp_path, tiny_run):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(tiny_run, run)
    (run / "eval.json").unlink()
    assert "no scores" in invoke("info", run).output
    result = invoke("eval", run, "--num", 3, "--record", "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    info = invoke("info", run)
    assert info.exit_code == 0 and "3 at 24x32" in info.output and "pixel diversity" in info.output


def test_eval_of_a_folder_of_sigctl_samples_skips_the_grid(tmp_path, tiny_run):
    samples = tmp_path / "samples"
    assert invoke("sample", "--local", tiny_run, "--num", 3, "--seed", 2, "--out", samples).exit_code == 0
    assert (samples / "grid.png").exists()
    result = invoke("eval", "--real", tiny_run / "reference.png", "--samples", samples, "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert record["source"]["files"] == [f"seed{s}_24x32_start0.png" for s in (2, 3, 4)]


def test_another_tools_outputs_that_paste_the_real_image_are_caught_copying(tmp_path, balloons):
    samples = tmp_path / "theirs"
    samples.mkdir()
    for index in range(3):
        save(samples / f"out_{index}.png", shifted_blocks(balloons, seed=index))
    result = invoke("eval", "--real", BALLOONS, "--samples", samples, "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    scores = json.loads((tmp_path / "eval" / "eval.json").read_text())["scores"]
    assert scores["copy_share"] > 0.9 and scores["pixel_diversity"] > 0.1
    assert all(sample["copy_share"] > 0.9 for sample in scores["per_sample"])


def _folder_with(tmp_path, files: dict) -> str:
    folder = tmp_path / "samples"
    folder.mkdir(exist_ok=True)
    for name, make in files.items():
        make(folder / name)
    return folder


def _png(size=(24, 32)):
    return lambda path: save(path, np.random.default_rng(len(str(path))).integers(0, 256, (*size, 3), dtype=np.uint8))


@pytest.mark.parametrize(
    "make_args, message",
    [
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"notes.txt": lambda p: p.write_text("x")})], "holds no .png files"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png(), "b.png": lambda p: p.write_text("not a png")})], "not an image file"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png(), "b.png": _png((24, 40))})], "compared pixel by pixel"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png()})], "needs at least 2 samples"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png((8, 8)), "b.png": _png((8, 8))})], "sides of 16 to 1024"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {f"{i:03d}.png": _png((16, 16)) for i in range(limits.MAX_SAMPLES + 1)})], "pass --num N"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", t / "missing"], "no such folder"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", BALLOONS], "is a file"),
        (lambda t, run: ["eval", "--real", t / "missing.png", "--samples", _folder_with(t, {"a.png": _png(), "b.png": _png()})], "no such file"),
        (lambda t, run: ["eval", "--samples", _folder_with(t, {"a.png": _png(), "b.png": _png()})], "go together"),
        (lambda t, run: ["eval", run, "--real", BALLOONS, "--samples", t], "not both"),
        (lambda t, run: ["eval"], "give a RUN directory"),
        (lambda t, run: ["eval", run, "--num", 1], "between 2 and 200"),
        (lambda t, run: ["eval", run, "--num", 100000], "between 2 and 200"),
        (lambda t, run: ["eval", run, "--size", "5x5"], "sides of 16 to 1024"),
        (lambda t, run: ["eval", run, "--size", "4000x4000"], "sides of 16 to 1024"),
        (lambda t, run: ["eval", run, "--size", "16x200"], "at most 8 x the shorter"),
        (lambda t, run: ["eval", run, "--size", "big"], "is not HEIGHTxWIDTH"),
        (lambda t, run: ["eval", t, "--num", 2], "manifest.json is missing"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png(), "b.png": _png()}), "--size", "32x32"], "--size chooses"),
        (lambda t, run: ["eval", "--real", BALLOONS, "--samples", _folder_with(t, {"a.png": _png(), "b.png": _png()}), "--record"], "--record stores"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2_before_anything_is_written(tmp_path, tiny_run, make_args, message):
    out = tmp_path / "never"
    result = invoke(*make_args(tmp_path, tiny_run), "--out", out)
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
    assert not out.exists()


def test_a_sample_that_is_a_link_out_of_its_folder_is_refused(tmp_path, balloons):
    outside = save(tmp_path / "outside.png", balloons)
    folder = tmp_path / "samples"
    folder.mkdir()
    save(folder / "a.png", balloons)
    os.symlink(outside, folder / "b.png")
    result = invoke("eval", "--real", BALLOONS, "--samples", folder, "--out", tmp_path / "eval")
    assert result.exit_code == 2 and "leads outside" in result.output


def test_num_takes_the_first_files_in_natural_order(tmp_path, balloons):
    folder = tmp_path / "samples"
    folder.mkdir()
    for seed in (10, 2, 1):
        save(folder / f"seed{seed}.png", np.roll(balloons, 30 * seed, axis=1)[:48, :64])
    result = invoke("eval", "--real", BALLOONS, "--samples", folder, "--num", 2, "--no-sifid", "--out", tmp_path / "eval")
    assert result.exit_code == 0, result.output
    record = json.loads((tmp_path / "eval" / "eval.json").read_text())
    assert record["source"]["files"] == ["seed1.png", "seed2.png"] and record["scores"]["sifid_64"] is None
