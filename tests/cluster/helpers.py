"""A tiny train-many job, the CLI as a user runs it, and what the tests read back from its files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from sigctl import artifact
from sigctl.artifact import files
from sigctl.serving.processes import children
from tests.conftest import IMAGES

IMAGE_NAMES = ("balloons", "cows", "stone")


def write_job(folder: Path, count: int, iterations: int, **extra) -> Path:
    """A job over ``count`` bundled images (tiny preset, a checkpoint at every log window)."""
    (folder / "images").mkdir(parents=True, exist_ok=True)
    for name in IMAGE_NAMES[:count]:
        shutil.copy(IMAGES / "train" / f"{name}.png", folder / "images" / f"{name}.png")
    job = {"output": "out", "images": ["images/*.png"], "preset": "tiny",
           "settings": {"optimizer": {"iterations_per_scale": iterations}, "checkpoint_interval_seconds": 0.0}, **extra}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def command(job: Path, *options: str) -> list[str]:
    return [sys.executable, "-m", "sigctl", "train-many", str(job), *options]


def run(job: Path, *options: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run(command(job, *options), capture_output=True, text=True, timeout=600, env=env)


def lines(output: Path) -> list[dict]:
    return [json.loads(text) for text in (output / "manifest.jsonl").read_text().splitlines()]


def position(run: Path) -> tuple[int, int]:
    """(completed stages, iterations of the next) of a run's last checkpoint; (0, 0) before one."""
    try:
        state = json.loads((run / files.CHECKPOINTS / "state.json").read_text())
    except (OSError, ValueError):
        return 0, 0
    return state["completed_stages"], state["stage_iterations_done"]


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def check_artifacts(output: Path, count: int) -> None:
    """Exactly one valid artifact per image: loadable, trained on that image's bytes, full pyramid."""
    folders = sorted(p.name for p in output.iterdir() if p.is_dir())
    assert folders == sorted(IMAGE_NAMES[:count])
    for name in folders:
        loaded = artifact.load(output / name)
        assert loaded.manifest.image.source_sha256 == files.sha256_of(output.parent / "images" / f"{name}.png")
        assert position(output / name)[0] == len(loaded.spec.noises)  # the last checkpoint holds every stage


def snapshot(output: Path) -> dict[str, int]:
    """Every file under the output with its modification time (a run that does nothing keeps them all)."""
    return {str(p.relative_to(output)): p.stat().st_mtime_ns for p in output.rglob("*") if p.is_file() and p.name != "train-many.lock"}


def trainer_pid(pid: int) -> int | None:
    """The local executor's worker process under the train-many process ``pid`` (not the resource tracker)."""
    for child in children(pid):
        try:
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                return child
        except OSError:
            continue
    return None


def alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def environment(home: Path) -> dict[str, str]:
    # Ray 2.60 writes ~/.ray/auth_token unless authentication is off: keep it out of the user's home.
    return {**os.environ, "RAY_AUTH_MODE": "disabled", "HOME": str(home)}
