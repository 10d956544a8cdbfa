"""Bad input through the real CLI, as a hostile user types it: one table, one assertion set per row.

Each case gives argv (built from a small context: a scratch folder, the session's tiny run, files
made on demand), the exit code, and a regex the message must match. Every case must end without a
traceback and without an internal error; job-file cases also check nothing was written. Most run
in process through typer's CliRunner; the ones marked ``subprocess`` run ``python -m sigctl``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from sigctl.cli import app

from ..conftest import BALLOONS, IMAGES

EDIT_IMAGE = IMAGES / "editing" / "stone_edit.png"
EDIT_MASK = IMAGES / "editing" / "stone_edit_mask.png"
SRC = Path(__file__).resolve().parents[2] / "src"


class Context:
    """What a case builds its argv from; files are made on demand in the case's own folder."""

    def __init__(self, tmp: Path, run: Path, url: str | None = None):
        self.tmp, self.run, self.url = tmp, run, url

    def file(self, name: str, content: bytes | str) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode() if isinstance(content, str) else content)
        return path

    def job(self, text: str | bytes, name: str = "job.yaml") -> Path:
        return self.file(name, text)

    def truncated_png(self) -> Path:
        data = BALLOONS.read_bytes()
        return self.file("truncated.png", data[: len(data) // 3])

    def damaged_run(self, damage: Callable[[Path], None]) -> Path:
        copy = self.tmp / "damaged_run"
        shutil.copytree(self.run, copy)
        damage(copy)
        return copy

    def manifest(self, lines: list[str]) -> Path:
        return self.file("done/manifest.jsonl", "".join(line + "\n" for line in lines))

    def made_line(self) -> dict:
        """A real manifest line: a one-item job run here, in process."""
        job = self.job("output: made\ntasks:\n  - count: 1\n    height: 16\n    width: 16\n", name="made.yaml")
        result = invoke(["batch", job, "--local", self.run])
        assert result.exit_code == 0, result.output
        return json.loads((self.tmp / "made" / "manifest.jsonl").read_text().splitlines()[0])


@dataclass(frozen=True)
class Case:
    id: str
    argv: Callable[[Context], list]
    exit_code: int
    message: str  # regex the output must match
    untouched: str | None = None  # a path (relative to the case folder) that must not exist afterwards
    subprocess: bool = False
    server: bool = False


def job_case(id: str, text: str, message: str, exit_code: int = 2) -> Case:
    """A job file run with --local; a refused job writes nothing (its output is 'out')."""
    return Case(id, lambda c: ["batch", c.job(text), "--local", c.run], exit_code, message, untouched="out")


def remove(name):
    return lambda run: (run / name).unlink()


def write(name, content):
    return lambda run: (run / name).write_bytes(content if isinstance(content, bytes) else content.encode())


def edit_manifest(change):
    def damage(run):
        manifest = json.loads((run / "manifest.json").read_text())
        change(manifest)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return damage


def flip_a_byte(name):
    def damage(run):
        data = bytearray((run / name).read_bytes())
        data[len(data) // 2] ^= 0xFF
        (run / name).write_bytes(bytes(data))

    return damage


SAMPLE = ["sample", "--num", "1"]
TASK = "output: out\ntasks:\n  - count: 3\n"

CASES = [
    # -- files ---------------------------------------------------------------------------------
    Case("file/train-missing-image", lambda c: ["train", c.tmp / "missing.png", "--out", c.tmp / "r"], 2, r"no such file"),
    Case("file/train-image-is-a-directory", lambda c: ["train", c.tmp, "--out", c.tmp / "r"], 2, r"is a directory"),
    Case("file/train-text-as-image", lambda c: ["train", c.file("notes.png", "not a picture"), "--out", c.tmp / "r"], 2, r"not an image file"),
    Case("file/paint-truncated-png", lambda c: ["paint", "--local", c.run, "--image", c.truncated_png(), "--out", c.tmp / "p.png"], 2,
         r"truncated\.png could not be decoded", untouched="p.png"),
    Case("file/edit-missing-mask", lambda c: ["edit", "--local", c.run, "--image", EDIT_IMAGE, "--mask", c.tmp / "none.png", "--out", c.tmp / "e.png"],
         2, r"none\.png: no such file"),
    Case("file/batch-missing-job", lambda c: ["batch", c.tmp / "nope.yaml", "--local", c.run], 2, r"job file .*nope\.yaml does not exist"),
    Case("file/batch-job-is-a-directory", lambda c: ["batch", c.tmp, "--local", c.run], 2, r"is a directory; give the job file"),
    Case("file/batch-job-not-utf8", lambda c: ["batch", c.job(b"output: out\ntasks:\n  - name: caf\xe9\n    count: 1\n"), "--local", c.run], 2,
         r"job\.yaml is not UTF-8 text", untouched="out", subprocess=True),
    Case("file/train-config-not-utf8", lambda c: ["train", BALLOONS, "--config", c.file("c.yaml", b"seed: 1 # \xff\n"), "--dry-run"], 2,
         r"config file .*c\.yaml is not UTF-8"),
    Case("file/train-factor-with-bad-config", lambda c: ["train", BALLOONS, "--factor", 4, "--config", c.file("BAD.yaml", "loss: [\n"), "--dry-run"],
         2, r"BAD\.yaml is not valid YAML: .*line \d+", subprocess=True),
    Case("file/train-config-is-a-directory", lambda c: ["train", BALLOONS, "--config", c.tmp, "--dry-run"], 2, r"is a directory; give a YAML file"),
    # -- options --------------------------------------------------------------------------------
    Case("option/animate-fps-zero", lambda c: ["animate", "--local", c.run, "--fps", 0, "--frames", 2, "--out", c.tmp / "a.gif"], 2,
         r"Invalid value for '--fps'", untouched="a.gif", subprocess=True),
    Case("option/animate-fps-negative", lambda c: ["animate", "--local", c.run, "--fps", -1, "--frames", 2, "--out", c.tmp / "a.gif"], 2,
         r"Invalid value for '--fps'"),
    Case("option/edit-dilation-negative", lambda c: ["edit", "--local", c.run, "--image", EDIT_IMAGE, "--mask", EDIT_MASK, "--dilation", -5,
                                                     "--out", c.tmp / "e.png"], 2, r"Invalid value for '--dilation'"),
    Case("option/edit-blur-negative", lambda c: ["edit", "--local", c.run, "--image", EDIT_IMAGE, "--mask", EDIT_MASK, "--blur", -1,
                                                 "--out", c.tmp / "e.png"], 2, r"Invalid value for '--blur'"),
    Case("option/sample-height-zero", lambda c: [*SAMPLE, "--local", c.run, "--height", 0, "--out", c.tmp / "s"], 2, r"too small"),
    Case("option/sample-size-over-the-limit", lambda c: [*SAMPLE, "--local", c.run, "--height", 100000, "--width", 100000, "--out", c.tmp / "s"], 2,
         r"exceeds the limit"),
    Case("option/sample-start-scale-99", lambda c: [*SAMPLE, "--local", c.run, "--start-scale", 99, "--out", c.tmp / "s"], 2, r"start scale 99 is out of range"),
    Case("option/sample-start-scale-negative", lambda c: [*SAMPLE, "--local", c.run, "--start-scale", -1, "--out", c.tmp / "s"], 2, r"out of range"),
    Case("option/sample-seed-negative", lambda c: [*SAMPLE, "--local", c.run, "--seed", -1, "--out", c.tmp / "s"], 2, r"seed must be between"),
    Case("option/sample-seed-2-to-the-63", lambda c: [*SAMPLE, "--local", c.run, "--seed", 2**63, "--out", c.tmp / "s"], 2, r"seed must be between"),
    Case("option/sample-num-zero", lambda c: ["sample", "--local", c.run, "--num", 0, "--out", c.tmp / "s"], 2, r"number of samples"),
    Case("option/sample-out-is-a-file", lambda c: [*SAMPLE, "--local", c.run, "--out", c.file("taken", "mine")], 2, r"--out .*taken is a file"),
    Case("option/sample-out-unwritable", lambda c: [*SAMPLE, "--local", c.run, "--out", "/proc/sigctl-hostile/s"], 2, r"cannot write in /proc"),
    Case("option/paint-out-not-png", lambda c: ["paint", "--local", c.run, "--image", BALLOONS, "--out", c.tmp / "p.jpg"], 2, r"must name a \.png file"),
    Case("option/paint-out-is-a-directory", lambda c: ["paint", "--local", c.run, "--image", BALLOONS, "--out", c.tmp], 2, r"must name a \.png file"),
    Case("option/paint-out-png-directory", lambda c: ["paint", "--local", c.run, "--image", BALLOONS, "--out", _folder(c.tmp / "x.png")], 2,
         r"x\.png is a directory"),
    Case("option/animate-out-not-gif", lambda c: ["animate", "--local", c.run, "--frames", 2, "--out", c.tmp / "a.txt"], 2, r"\.gif or \.mp4"),
    Case("option/train-out-is-a-file", lambda c: ["train", BALLOONS, "--preset", "tiny", "--out", c.file("taken", "mine")], 2, r"taken is a file",
         subprocess=True),
    Case("option/train-out-unwritable", lambda c: ["train", BALLOONS, "--preset", "tiny", "--out", "/proc/sigctl-hostile/run"], 2, r"cannot write in /proc"),
    Case("option/export-name-climbs-out", lambda c: ["export", c.run, "--repo", c.tmp / "repo", "--name", "../evil"], 2, r"model name '\.\./evil' is not usable",
         untouched="evil"),
    Case("option/export-into-a-foreign-folder", lambda c: ["export", c.run, "--repo", c.file("repo/mine/notes.txt", "x").parent.parent, "--name", "mine"], 2,
         r"is not a model sigctl published", untouched="repo/mine/1"),
    Case("option/export-repo-is-a-file", lambda c: ["export", c.run, "--repo", c.file("repo.txt", "x"), "--name", "m"], 2,
         r"model repository .*repo\.txt is a file"),
    Case("option/serve-repo-is-a-file", lambda c: ["serve", "--repo", c.file("repo.txt", "x")], 2, r"is a file; give the repository folder"),
    Case("option/sr-on-a-model-not-trained-for-it", lambda c: ["sr", "--local", c.run, "--image", BALLOONS, "--out", c.tmp / "sr.png"], 2,
         r"does not answer super_resolve"),
    Case("option/sample-neither-local-nor-server", lambda c: ["sample", "--out", c.tmp / "s"], 2, r"--local RUN_DIR"),
    Case("option/sample-height-over-int32-to-a-server", lambda c: [*SAMPLE, "--server", "127.0.0.1:9", "--model", "m", "--height", 2**40, "--out", c.tmp / "s"],
         2, r"HEIGHT 1099511627776 does not fit its type int32"),
    Case("option/sample-from-no-server", lambda c: [*SAMPLE, "--server", "127.0.0.1:9", "--out", c.tmp / "s"], 2, r"cannot reach a Triton server"),
    # -- job files: refused at validation (field and line) or before the first request ------------
    job_case("job/height-over-the-limit", TASK + "    height: 100000\n    width: 100\n", r"nothing was run: .*exceeds the limit"),
    job_case("job/start-scale-99", TASK + "    start_scale: 99\n", r"nothing was run: .*start scale 99 is out of range"),
    job_case("job/largest-seed", TASK + f"    seed_start: {2**63 - 1}\n", r"nothing was run: .*seed must be between"),
    job_case("job/edit-without-an-image", TASK + "    mode: edit\n", r"nothing was run: .*needs an input image"),
    job_case("job/animate-too-many-frames", TASK + "    mode: animate\n    frames: 1000\n", r"nothing was run: .*frames must be between 2 and 240"),
    job_case("job/super-resolve-on-a-plain-model", TASK + f"    mode: super_resolve\n    image: {BALLOONS}\n", r"does not answer super_resolve"),
    job_case("job/height-true", TASK + "    height: true\n", r"line 4: tasks\.0\.height: a size is a whole number"),
    job_case("job/count-as-text", "output: out\ntasks:\n  - count: '3'\n", r"line 3: tasks\.0\.count: Input should be a valid integer"),
    job_case("job/naming-climbs-out", 'output: out\nnaming: "../../../x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming: .*climbs out"),
    job_case("job/naming-absolute", 'output: out\nnaming: "/tmp/x_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming: .*is an absolute path"),
    job_case("job/naming-fill-makes-it-absolute", 'output: out\nnaming: "{index:/>6}"\ntasks:\n  - count: 2\n', r"line 2: naming: .*absolute path"),
    job_case("job/naming-unknown-field", 'output: out\nnaming: "{foo}_{index}"\ntasks:\n  - count: 2\n', r"line 2: naming: unknown field \{foo\}.*\{task\}, \{index\}"),
    job_case("job/naming-bad-format-spec", 'output: out\nnaming: "{seed:q}"\ntasks:\n  - count: 2\n', r"line 2: naming: .*Unknown format code 'q'"),
    job_case("job/naming-attribute-access", 'output: out\nnaming: "{task.__class__}"\ntasks:\n  - count: 2\n', r"line 2: naming: unknown field"),
    job_case("job/task-name-climbs-out", "output: out\ntasks:\n  - name: ../../../t\n    count: 2\n", r"line 3: tasks\.0\.name: task name .* is not usable"),
    job_case("job/output-is-the-job-folder", "output: .\ntasks:\n  - count: 2\n", r"line 1: output: .*holds other files"),
    job_case("job/output-is-root", "output: /\ntasks:\n  - count: 2\n", r"line 1: output: .*holds other files"),
    job_case("job/output-with-tilde", "output: '~/out'\ntasks:\n  - count: 2\n", r"line 1: output: .*'~' is not expanded"),
    job_case("job/not-yaml", "output: out\ntasks: [\n", r"not valid YAML or JSON: .*line 3"),
    job_case("job/unknown-mode", TASK + "    mode: dance\n", r"line 4: tasks\.0\.mode: unknown mode 'dance'"),
    Case("job/output-is-a-foreign-folder", lambda c: _into_a_foreign_folder(c), 2, r"theirs exists, is not empty and is not a sigctl batch output",
         untouched="theirs/task0"),
    # -- --replay --------------------------------------------------------------------------------
    Case("replay/missing-manifest", lambda c: ["batch", "--replay", f"{c.tmp / 'gone.jsonl'}:1", "--local", c.run], 2, r"manifest .*gone\.jsonl does not exist"),
    Case("replay/bad-json", lambda c: ["batch", "--replay", f"{c.manifest(['{not json'])}:1", "--local", c.run, "--out", c.tmp / "r.png"], 2,
         r"line 1 of .*manifest\.jsonl is not valid JSON", untouched="r.png", subprocess=True),
    Case("replay/line-lacking-keys", lambda c: ["batch", "--replay", f"{c.manifest([json.dumps({'id': 't/0'})])}:1", "--local", c.run], 2,
         r"lacks file, sha256, model, parameters"),
    Case("replay/line-without-parameters-keys", lambda c: ["batch", "--replay", json.dumps({**c.made_line(), "parameters": {"mode": "sample"}}),
                                                           "--local", c.run], 2, r"lacks parameters\.seed"),
    Case("replay/file-entry-climbs-out", lambda c: ["batch", "--replay", f"{c.manifest([json.dumps({**c.made_line(), 'file': '../../etc/passwd'})])}:1",
                                                    "--local", c.run, "--out", c.tmp / "r.png"], 2, r"outside its output folder: '\.\./\.\./etc/passwd'",
         untouched="r.png"),
    Case("replay/line-number-past-the-end", lambda c: ["batch", "--replay", f"{c.manifest(['{}'])}:9", "--local", c.run], 2, r"has 1 lines; line 9 does not exist"),
    Case("replay/not-a-line", lambda c: ["batch", "--replay", "yesterday", "--local", c.run], 2, r"MANIFEST:LINE_NUMBER"),
    Case("replay/manifest-is-a-directory", lambda c: ["batch", "--replay", f"{c.tmp}:1", "--local", c.run], 2, r"is a directory; give the manifest file"),
    # -- artifacts ---------------------------------------------------------------------------------
    Case("artifact/missing-manifest", lambda c: [*SAMPLE, "--local", c.damaged_run(remove("manifest.json")), "--out", c.tmp / "s"], 2, r"manifest\.json is missing"),
    Case("artifact/corrupted-manifest", lambda c: [*SAMPLE, "--local", c.damaged_run(write("manifest.json", "{\"format_version\": 1,")), "--out", c.tmp / "s"], 2,
         r"manifest\.json is corrupted"),
    Case("artifact/manifest-not-utf8", lambda c: [*SAMPLE, "--local", c.damaged_run(write("manifest.json", b"\xff\xfe{}")), "--out", c.tmp / "s"], 2,
         r"manifest\.json is corrupted"),
    Case("artifact/missing-weights", lambda c: [*SAMPLE, "--local", c.damaged_run(remove("model.safetensors")), "--out", c.tmp / "s"], 2,
         r"model\.safetensors is missing"),
    Case("artifact/corrupted-weights", lambda c: [*SAMPLE, "--local", c.damaged_run(flip_a_byte("model.safetensors")), "--out", c.tmp / "s"], 2,
         r"model\.safetensors does not match its checksum"),
    Case("artifact/weights-are-a-directory", lambda c: ["info", c.damaged_run(lambda r: ((r / "model.safetensors").unlink(), (r / "model.safetensors").mkdir()))],
         2, r"model\.safetensors: Is a directory"),
    Case("artifact/file-names-climb-out", lambda c: ["info", c.damaged_run(edit_manifest(lambda m: m["files"].update({"../../outside": "0" * 64})))], 2,
         r"file name '\.\./\.\./outside' is not a plain file name"),
    Case("artifact/no-scales", lambda c: [*SAMPLE, "--local", c.damaged_run(edit_manifest(lambda m: m.update(scales=[]))), "--out", c.tmp / "s"], 2,
         r"does not match the manifest schema"),
    Case("artifact/run-is-a-file", lambda c: ["info", c.file("run.txt", "x")], 2, r"is not a directory"),
    # -- a served model's own limits (the session's tritonserver) -------------------------------------
    Case("server/job-start-scale-99", lambda c: ["batch", c.job("output: out\ntasks:\n  - model: balloons\n    count: 2\n    start_scale: 99\n"),
                                                 "--server", c.url], 2, r"nothing was run: .*start scale 99 is out of range", untouched="out", server=True),
    Case("server/job-edit-without-an-image", lambda c: ["batch", c.job("output: out\ntasks:\n  - model: stone\n    mode: edit\n    count: 2\n"),
                                                        "--server", c.url], 2, r"nothing was run: .*needs an input image", untouched="out", server=True),
    Case("server/sample-over-the-limit", lambda c: [*SAMPLE, "--server", c.url, "--model", "balloons", "--height", 4096, "--width", 4096,
                                                    "--out", c.tmp / "s"], 2, r"exceeds the limit", server=True),
]


def _into_a_foreign_folder(c: Context) -> list:
    c.file("theirs/notes.txt", "someone else's")
    return ["batch", c.job("output: theirs\ntasks:\n  - count: 1\n"), "--local", c.run]


def _folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


runner = CliRunner()


def invoke(argv: list):
    return runner.invoke(app, [str(a) for a in argv])


def run_case(case: Case, context: Context) -> tuple[int, str]:
    argv = [str(a) for a in case.argv(context)]
    if case.subprocess:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(SRC), os.environ.get("PYTHONPATH")])), "COLUMNS": "200"}
        env.pop("SIGCTL_DEBUG", None)
        result = subprocess.run([sys.executable, "-m", "sigctl", *argv], capture_output=True, text=True, env=env, timeout=120, cwd=context.tmp)
        return result.returncode, result.stdout + result.stderr
    result = runner.invoke(app, argv)
    # CliRunner catches what escapes; anything but an exit is a traceback a user would have seen.
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    return result.exit_code, result.output


def _params(cases):
    return [pytest.param(case, id=case.id, marks=[pytest.mark.slow] if case.server else []) for case in cases]


@pytest.mark.parametrize("case", _params(CASES))
def test_bad_input_gets_a_clear_error_not_a_traceback(case: Case, request, tmp_path, tiny_run, monkeypatch):
    monkeypatch.delenv("SIGCTL_DEBUG", raising=False)
    url = request.getfixturevalue("triton").settings.grpc_url if case.server else None
    code, output = run_case(case, Context(tmp_path, tiny_run, url))
    assert "Traceback" not in output, output
    assert "internal error" not in output, output
    assert code == case.exit_code, output
    assert re.search(case.message, " ".join(output.split())), output  # rich may wrap; match across lines
    if os.environ.get("SIGCTL_SHOW_ERRORS"):
        print(f"\n{case.id}: {' '.join(output.split())[-300:]}")
    if case.untouched:
        assert not (tmp_path / case.untouched).exists(), f"{case.untouched} was written"


def test_the_table_covers_every_class():
    classes = {case.id.split("/")[0] for case in CASES}
    assert classes == {"file", "option", "job", "replay", "artifact", "server"}
    assert len(CASES) >= 35 and len({case.id for case in CASES}) == len(CASES)
