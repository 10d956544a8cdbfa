"""Resume state, written after every finished stage and inside long ones, never needed to sample.

Layout of ``RUN/checkpoints/``:

- ``stage_NNN.safetensors``: the recipe's state after NNN finished stages;
  ``stage_NNN_iteration_IIIIII.safetensors``: inside stage NNN (0-based) after IIIIII of its
  iterations. Named tensors only (``sigctl.training.state_tree``), never a pickle.
- ``state.json``, written after the tensors, atomically: the position, training seconds and loss
  log so far, the recipe state's JSON document (its scalars and structure, naming the tensors),
  and the tensor file's name with its checksum. A kill at any moment leaves state.json pointing
  at a complete tensor file; older tensor files are deleted only once it no longer does.
- ``run.json``: the image's provenance (written by the loop when a run starts).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sigctl.artifact import files
from sigctl.errors import RunStateError
from sigctl.training import state_tree

STATE = "state.json"
FORMAT = 2  # 1: sigctl 0.x, stage boundaries only, pyramid tensors by bare name (not read any more)
TENSOR_FILE = re.compile(r"stage_\d{3,}(_iteration_\d{6,})?\.safetensors")


@dataclass
class Checkpoint:
    """Where a run stands: ``completed_stages`` finished, and ``stage_iterations_done`` iterations
    of the next one (0: at a stage boundary)."""

    completed_stages: int
    training_seconds: float
    loss_log: list[dict] = field(default_factory=list)
    recipe_state: Any = field(default_factory=dict)  # the recipe's ``state_dict()``
    stage_iterations_done: int = 0


def tensor_file_name(completed_stages: int, stage_iterations_done: int) -> str:
    if stage_iterations_done == 0:
        return f"stage_{completed_stages:03d}.safetensors"
    return f"stage_{completed_stages:03d}_iteration_{stage_iterations_done:06d}.safetensors"


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    folder = Path(run_dir) / files.CHECKPOINTS
    name = tensor_file_name(checkpoint.completed_stages, checkpoint.stage_iterations_done)
    tensors, document = state_tree.flatten(checkpoint.recipe_state)
    files.write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp)))
    state = {
        "format": FORMAT,
        "completed_stages": checkpoint.completed_stages,
        "stage_iterations_done": checkpoint.stage_iterations_done,
        "training_seconds": checkpoint.training_seconds,
        "tensors": name,
        "tensors_sha256": files.sha256_of(folder / name),
        "recipe_state": document,
        "loss_log": checkpoint.loss_log,
    }
    files.write_json_atomic(folder / STATE, state)
    # Only names this module makes, in the run's own checkpoints folder (an earlier checkpoint's
    # file, or one a kill left behind between the tensors and state.json).
    for old in folder.iterdir():
        if TENSOR_FILE.fullmatch(old.name) and old.name != name and old.is_file():
            old.unlink(missing_ok=True)


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The last complete checkpoint, or None if the run never wrote one."""
    folder = Path(run_dir) / files.CHECKPOINTS
    state_path = folder / STATE
    if not state_path.exists():
        return None
    restart = f"delete {folder} to restart training"
    try:
        state = json.loads(state_path.read_text())
        if not isinstance(state, dict):
            raise RunStateError(f"{state_path} does not hold a checkpoint state; {restart}")
        if state.get("format") != FORMAT:
            raise RunStateError(f"{state_path} was written by an older sigctl (checkpoint format {state.get('format', 1)}, this one reads {FORMAT}); {restart}")
        if not isinstance(state.get("tensors"), str) or not TENSOR_FILE.fullmatch(state["tensors"]):
            raise RunStateError(f"{state_path} names no checkpoint file of this folder ({state.get('tensors')!r}); {restart}")
        tensor_path = folder / state["tensors"]
        if files.sha256_of(tensor_path) != state["tensors_sha256"]:
            raise RunStateError(f"{tensor_path} does not match its checksum in {state_path}; the checkpoint is corrupted, {restart}")
        recipe_state = state_tree.unflatten(state["recipe_state"], load_file(str(tensor_path)))
        checkpoint = Checkpoint(
            completed_stages=_count(state, "completed_stages"),
            training_seconds=float(state["training_seconds"]),
            loss_log=state["loss_log"],
            recipe_state=recipe_state,
            stage_iterations_done=_count(state, "stage_iterations_done"),
        )
    except (ValueError, TypeError, UnicodeDecodeError, AttributeError, KeyError, FileNotFoundError, SafetensorError) as error:
        # ValueError covers a JSONDecodeError and a state document that names a missing tensor.
        raise RunStateError(f"the checkpoint in {folder} is unreadable ({type(error).__name__}: {error}); {restart}") from None
    return checkpoint


def _count(state: dict, key: str) -> int:
    value = state[key]
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{key} is {value!r}, not a count")
    return value
