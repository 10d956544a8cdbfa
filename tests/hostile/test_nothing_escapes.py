"""Paths built from user text stay inside their folder (issue 10, item 2).

Each traversal is refused at validation with the field and its line, and nothing is written
anywhere: the whole scratch tree is compared before and after.
"""

from __future__ import annotations

import json
import os

import pytest
from typer.testing import CliRunner

from sigctl.cli import app

runner = CliRunner()


def tree(root):
    return sorted((str(p.relative_to(root)), p.stat().st_mtime_ns if p.is_file() else 0) for p in root.rglob("*"))


def batch(job, run):
    return runner.invoke(app, ["batch", str(job), "--local", str(run)])


@pytest.mark.parametrize(
    "job_text, where",
    [
        ('output: job/out\nnaming: "../../../x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming"),
        ('output: job/out\nnaming: "../x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming"),
        ('output: job/out\nnaming: "{ABS}/x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming"),
        ('output: job/out\nnaming: "{task}/../../x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming"),
        ("output: job/out\ntasks:\n  - count: 1\n  - name: ../../../t\n    count: 2\n", r"line 4: tasks\.1\.name"),
        ("output: job/out\ntasks:\n  - name: /etc\n    count: 2\n", r"line 3: tasks\.0\.name"),
        ('output: job/out\nnaming: "{task}_{index}"\ntasks:\n  - name: ..\n    count: 2\n', r"line 4: tasks\.0\.name"),
    ],
)
def test_a_job_that_would_write_outside_its_output_is_refused_at_validation(tmp_path, tiny_run, job_text, where):
    import re

    (tmp_path / "job").mkdir()
    (tmp_path / "victim.png").write_bytes(b"an existing file the job would have replaced")
    job = tmp_path / "job" / "job.yaml"
    job.write_text(job_text.replace("{ABS}", str(tmp_path)))
    before = tree(tmp_path)
    result = batch(job, tiny_run)
    assert result.exit_code == 2, result.output
    assert re.search(where, result.output), result.output
    assert tree(tmp_path) == before  # nothing written, inside or out


def test_a_symbolic_link_inside_the_output_does_not_lead_out(tmp_path, tiny_run):
    job = tmp_path / "job.yaml"
    job.write_text("output: out\ntasks:\n  - name: t\n    count: 2\n    height: 16\n    width: 16\n")
    assert batch(job, tiny_run).exit_code == 0
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    for png in (tmp_path / "out" / "t").iterdir():
        png.unlink()
    (tmp_path / "out" / "t").rmdir()
    os.symlink(outside, tmp_path / "out" / "t")  # out/t -> elsewhere
    result = batch(job, tiny_run)
    assert result.exit_code == 2 and "leads outside" in result.output, result.output
    assert list(outside.iterdir()) == []


def test_a_manifest_line_naming_a_file_outside_is_never_followed_on_resume(tmp_path, tiny_run):
    job = tmp_path / "job.yaml"
    job.write_text("output: out\ntasks:\n  - name: t\n    count: 2\n    height: 16\n    width: 16\n")
    assert batch(job, tiny_run).exit_code == 0
    manifest = tmp_path / "out" / "manifest.jsonl"
    lines = [json.loads(text) for text in manifest.read_text().splitlines()]
    victim = tmp_path / "victim.png"
    victim.write_bytes((tmp_path / "out" / lines[0]["file"]).read_bytes())  # same bytes: the checksum would match
    (tmp_path / "out" / lines[0]["file"]).unlink()
    lines[0]["file"] = "../victim.png"
    manifest.write_text("".join(json.dumps(line) + "\n" for line in lines))

    result = batch(job, tiny_run)
    assert result.exit_code == 0 and "1 made, 1 already done" in result.output, result.output
    assert victim.read_bytes() == (tmp_path / "out" / "t" / "000000_seed0.png").read_bytes()  # made again inside
    recorded = [json.loads(text)["file"] for text in manifest.read_text().splitlines()]
    assert sorted(recorded) == ["t/000000_seed0.png", "t/000001_seed1.png"]
