"""One image's training, as a worker (a local child process or a Ray task) runs it: from the files alone.

A finished artifact is left alone; a run with checkpoints resumes from the last one (on shared
storage, wherever a lost worker left it); otherwise a new run starts. What a worker returns is
the image's outcome line (plain JSON types), never an exception: a failure is recorded, and only
the loss of the worker itself (a killed process, a lost node) makes the executor try again.
"""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path
from typing import Any, Optional

from sigctl.artifact import files
from sigctl.core.paths import is_temporary
from sigctl.training.checkpoints import STATE
from sigctl.training.loop import RUN_INFO

DONE, TRAINED, FAILED = "done", "trained", "failed"
# What a new run writes before its first checkpoint folder entry; a run killed that early left only these.
_UNSTARTED = {files.REFERENCE, files.SETTINGS}


def run_state(run_dir: Path) -> tuple[str, Optional[dict[str, int]]]:
    """("done" | "partial" | "new", position of the last checkpoint or None)."""
    if (run_dir / files.MANIFEST).exists():
        return DONE, None
    if (run_dir / files.CHECKPOINTS / RUN_INFO).exists():
        return "partial", checkpoint_position(run_dir)
    return "new", None


def checkpoint_position(run_dir: Path) -> dict[str, int]:
    """Stages and iterations the last checkpoint holds (0, 0 when none was written yet)."""
    try:
        state = json.loads((run_dir / files.CHECKPOINTS / STATE).read_text())
        return {"completed_stages": int(state["completed_stages"]), "stage_iterations_done": int(state["stage_iterations_done"])}
    except (OSError, ValueError, KeyError, TypeError):
        return {"completed_stages": 0, "stage_iterations_done": 0}  # none yet (or unreadable: resume says which)


def train_item(item_id: str, image: str, run_dir: str, settings: dict[str, Any], threads: int = 0) -> dict[str, Any]:
    """Train (or resume, or skip) one image into ``run_dir``; returns its outcome line."""
    started = time.time()
    outcome: dict[str, Any] = {"id": item_id, "image": image, "worker": f"{socket.gethostname()}:{os.getpid()}", "resumed_from": None, "error": None}
    try:
        import torch

        from sigctl.config import settings_from_dict
        from sigctl.training import loop

        if threads:
            torch.set_num_threads(threads)
        run = Path(run_dir)
        state, position = run_state(run)
        if state == DONE:
            outcome["status"] = DONE
        elif state == "partial":
            outcome["resumed_from"] = position
            loop.resume(run)
            outcome["status"] = TRAINED
        else:
            _remove_unstarted(run)
            loop.train(Path(image), run, settings_from_dict(settings, source="the job's settings"))
            outcome["status"] = TRAINED
    except Exception as error:  # noqa: BLE001 - recorded in the manifest: one bad image must not stop the others
        outcome["status"] = FAILED
        outcome["error"] = f"{type(error).__name__}: {error}"
    outcome["seconds"] = round(time.time() - started, 3)
    return outcome


def _remove_unstarted(run: Path) -> None:
    """Remove what a new run killed before its run info wrote, by name; anything else is left (and refused)."""
    if not run.is_dir():
        return
    checkpoints = run / files.CHECKPOINTS
    entries = list(run.iterdir())
    ours = all(e.name in _UNSTARTED or is_temporary(e) or e == checkpoints for e in entries)
    if not ours or (checkpoints.exists() and not all(is_temporary(e) for e in checkpoints.iterdir())):
        return  # not only ours: training refuses the folder and says so
    for entry in entries:
        if entry.is_file() and not entry.is_symlink():
            entry.unlink()
    if checkpoints.is_dir():
        for entry in checkpoints.iterdir():
            entry.unlink()
        checkpoints.rmdir()
