"""sigctl deletes and replaces only what it provably made (issue 10, item 1).

Batch jobs, checkpoints, model folders and ``make clean``, each against files a user might keep
beside them.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from sigctl.batch.jobfile import expand, load_job
from sigctl.cli import app
from sigctl.core.paths import TEMPORARY_PREFIX, temporary_beside
from sigctl.training.checkpoints import Checkpoint, save_checkpoint

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

# Files a user keeps that the old sweep ('.*.tmp*' anywhere below the output) deleted.
KEEPSAKES = {".config.tmp": "settings", ".vimrc.tmpl": "set number", "sub/deeper/.thesis.tmp.docx": "chapter 1"}


def plant(folder: Path, files: dict[str, str]) -> dict[str, str]:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text)
    return snapshot(folder, files)


def snapshot(folder: Path, names) -> dict[str, str]:
    return {name: hashlib.sha256((folder / name).read_bytes()).hexdigest() for name in names if (folder / name).is_file()}


def batch(job: Path, run: Path):
    return runner.invoke(app, ["batch", str(job), "--local", str(run)])


def write_job(folder: Path, output: str = "out", count: int = 4, naming: str | None = None) -> Path:
    job = folder / "job.yaml"
    pattern = f'naming: "{naming}"\n' if naming else ""
    job.write_text(f"output: {output}\n{pattern}tasks:\n  - count: {count}\n    height: 16\n    width: [16, 24]\n")
    return job


def test_a_folder_that_is_not_a_batch_output_is_refused_and_left_byte_identical(tmp_path, tiny_run):
    foreign = tmp_path / "out"
    before = plant(foreign, KEEPSAKES)
    result = batch(write_job(tmp_path), tiny_run)
    assert result.exit_code == 2 and "not a sigctl batch output" in result.output, result.output
    assert snapshot(foreign, KEEPSAKES) == before
    assert sorted(str(p.relative_to(foreign)) for p in foreign.rglob("*") if p.is_file()) == sorted(KEEPSAKES)


@pytest.mark.parametrize("naming", [None, "{task}_{index}"])  # items in a folder per task, or at the top level
def test_in_its_own_output_a_rerun_removes_only_sigctls_temporary_files(tmp_path, tiny_run, naming):
    job = write_job(tmp_path, naming=naming)
    assert batch(job, tiny_run).exit_code == 0
    output = tmp_path / "out"
    files = [item.file for item in expand(load_job(job), tmp_path)]
    # The user later keeps look-alike files there; a killed run left its own temporaries and a torn line.
    keep = {**KEEPSAKES, "task0/.notes.tmp": "mine", "task0/.sigctl-tmp": "no random part: not sigctl's name", "task0/x.sigctl-tmp-1-a.png": "mine"}
    before = plant(output, keep)
    ours = [temporary_beside(output / files[2]), temporary_beside(output / "manifest.jsonl")]
    for path in ours:
        path.write_bytes(b"half written")
    (output / files[3]).unlink()  # its line is now stale: the item is made again
    with open(output / "manifest.jsonl", "a") as stream:
        stream.write('{"id": "task0/3", "fi')  # torn by a kill

    result = batch(job, tiny_run)
    assert result.exit_code == 0, result.output
    assert "1 made, 3 already done" in result.output
    assert not any(path.exists() for path in ours)
    assert snapshot(output, keep) == before
    lines = [json.loads(text) for text in (output / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item.id for item in expand(load_job(job), tmp_path))


@pytest.mark.parametrize("output", [".", "..", "/", "'~'"])
def test_outputs_that_hold_other_files_are_never_swept(tmp_path, tiny_run, output):
    plant(tmp_path, {".config.tmp": "settings"})
    job = write_job(tmp_path, output=output)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = batch(job, tiny_run)
    assert result.exit_code == 2 and "line 1: output" in result.output, result.output
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_a_home_output_is_refused(tmp_path, tiny_run, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    result = batch(write_job(tmp_path, output=str(tmp_path / "home")), tiny_run)
    assert result.exit_code == 2 and "holds other files" in result.output, result.output
    assert list((tmp_path / "home").iterdir()) == []


def test_checkpoints_remove_only_their_own_stage_files(tmp_path):
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    (folder / "stage_backup.safetensors").write_text("a copy the user made")
    (folder / "stage_001.safetensors.orig").write_text("another")
    tensors = {"weight": torch.zeros(2)}
    save_checkpoint(tmp_path, Checkpoint(1, 1.0, [], tensors))
    save_checkpoint(tmp_path, Checkpoint(2, 2.0, [], tensors))
    assert sorted(p.name for p in folder.iterdir() if not p.name.startswith(TEMPORARY_PREFIX)) == [
        "stage_001.safetensors.orig", "stage_002.safetensors", "stage_backup.safetensors", "state.json",
    ]


def test_make_clean_removes_only_what_make_made(tmp_path):
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")
    made = [".venv/bin/python", "runs/demo/manifest.json", "out/demo/grid.png", "model_repository/demo/config.pbtxt", "bench/results/x.json"]
    mine = ["runs/cats/manifest.json", "out/cats/grid.png", "model_repository/cats/config.pbtxt", "model_repository/README.md", "notes.txt"]
    for name in made + mine:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(name)
    subprocess.run(["make", "clean"], cwd=tmp_path, check=True, capture_output=True)
    assert [name for name in made if (tmp_path / name).exists()] == []
    assert [name for name in mine if not (tmp_path / name).exists()] == []
