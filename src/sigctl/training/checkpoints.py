"""Resume state, written after every finished stage and never needed to sample.

``checkpoints/stage_NNN.safetensors`` holds tensors (pyramid so far + what the recipe needs);
``checkpoints/state.json`` is written after it, atomically, and names it with its checksum. A kill
at any moment leaves state.json pointing at a complete tensor file.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sigctl.artifact import files
from sigctl.errors import RunStateError

STATE = "state.json"
STAGE_FILE = re.compile(r"stage_\d{3}\.safetensors")


@dataclass
class Checkpoint:
    completed_stages: int
    training_seconds: float
    loss_log: list[dict] = field(default_factory=list)
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)


def save_checkpoint(run_dir: Path, checkpoint: Checkpoint) -> None:
    folder = Path(run_dir) / files.CHECKPOINTS
    name = f"stage_{checkpoint.completed_stages:03d}.safetensors"
    tensors = {k: v.detach().cpu().contiguous() for k, v in checkpoint.tensors.items()}
    files.write_atomic(folder / name, lambda tmp: save_file(tensors, str(tmp)))
    state = {
        "completed_stages": checkpoint.completed_stages,
        "training_seconds": checkpoint.training_seconds,
        "tensors": name,
        "tensors_sha256": files.sha256_of(folder / name),
        "loss_log": checkpoint.loss_log,
    }
    files.write_json_atomic(folder / STATE, state)
    # Only names this module makes, in the run's own checkpoints folder (an earlier stage's file,
    # or one a kill left behind between the tensors and state.json).
    for old in folder.iterdir():
        if STAGE_FILE.fullmatch(old.name) and old.name != name and old.is_file():
            old.unlink(missing_ok=True)


def load_checkpoint(run_dir: Path) -> Checkpoint | None:
    """The last complete checkpoint, or None if the run never finished a stage."""
    folder = Path(run_dir) / files.CHECKPOINTS
    state_path = folder / STATE
    if not state_path.exists():
        return None
    try:
        state = json.loads(state_path.read_text())
        if not isinstance(state.get("tensors"), str) or not STAGE_FILE.fullmatch(state["tensors"]):
            raise RunStateError(f"{state_path} names no stage file of this folder ({state.get('tensors')!r}); delete {folder} to restart training")
        tensor_path = folder / state["tensors"]
        if files.sha256_of(tensor_path) != state["tensors_sha256"]:
            raise RunStateError(f"{tensor_path} does not match its checksum in {state_path}; the checkpoint is corrupted")
        tensors = load_file(str(tensor_path))
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError, KeyError, FileNotFoundError, SafetensorError) as error:
        raise RunStateError(f"the checkpoint in {folder} is unreadable ({error}); delete {folder} to restart training") from None
    return Checkpoint(state["completed_stages"], state["training_seconds"], state["loss_log"], tensors)
