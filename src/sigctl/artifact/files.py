"""File names of an artifact, checksums, and atomic writes."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

from sigctl.core.paths import sha256_of, temporary_beside  # noqa: F401 - sha256_of: files.sha256_of for its users

MANIFEST = "manifest.json"
MODEL_WEIGHTS = "model.safetensors"  # the model's named tensors (format 3)
REFERENCE = "reference.png"
SAMPLES = "samples.png"
LOSS_PLOT = "losses.png"
LOSS_LOG = "losses.jsonl"
SETTINGS = "settings.json"
CHECKPOINTS = "checkpoints"

# Needed to sample; the others are reports a user may delete without harm.
REQUIRED_FILES = (MODEL_WEIGHTS, REFERENCE)
REPORT_FILES = (SAMPLES, LOSS_PLOT, LOSS_LOG)


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(temporary_path)`` and rename the result onto ``path``.

    A crash leaves either the old file or the new one, never a half-written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_beside(path)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json_atomic(path: Path, value: object) -> None:
    write_atomic(path, lambda temporary: temporary.write_text(json.dumps(value, indent=2) + "\n"))


def read_json_lines(path: Path) -> list[dict]:
    """The lines of a JSONL file that parse as JSON objects; none if it is missing.

    A line that does not parse (the torn last line of a killed writer) is skipped, not an error.
    """
    path = Path(path)
    if not path.is_file():
        return []
    objects = []
    for text in path.read_text(errors="replace").splitlines():
        try:
            value = json.loads(text)
        except ValueError:
            continue
        if isinstance(value, dict):
            objects.append(value)
    return objects
