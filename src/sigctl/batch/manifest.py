"""The job's JSONL manifest: one line per finished item, appended and fsynced after its file.

A line is written only after its file was renamed into place, so a line always names a complete
file. A kill can at worst leave a torn last line (dropped on the next run) or a file without a
line (made again, identically). A line read back is checked before use: its keys, and a ``file``
that stays inside the output folder (a hand-edited or foreign manifest cannot point elsewhere).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

from sigctl.core.paths import resolve_inside, temporary_beside

MANIFEST = "manifest.jsonl"
# What a line must hold: the keys --replay and resume read, and the parameters of its request.
LINE_KEYS = {"id": str, "file": str, "sha256": str, "model": str, "parameters": dict}
PARAMETER_KEYS = ("mode", "seed", "height", "width", "start_scale", "image", "image_sha256", "mask", "mask_sha256",
                  "quantize_colors", "sr_factor", "frames")


class LineError(ValueError):
    """A manifest line that is not one sigctl writes."""


def parse_line(text: str | dict) -> dict:
    """A manifest line (JSON text or already parsed) checked for its keys and types; LineError if not."""
    if isinstance(text, str):
        try:
            line = json.loads(text)
        except json.JSONDecodeError as error:
            raise LineError(f"is not valid JSON ({error.msg} at column {error.colno})") from None
    else:
        line = text
    if not isinstance(line, dict):
        raise LineError("is not a JSON object")
    missing = [key for key in LINE_KEYS if key not in line]
    missing += [f"parameters.{key}" for key in PARAMETER_KEYS if isinstance(line.get("parameters"), dict) and key not in line["parameters"]]
    if missing:
        raise LineError(f"lacks {', '.join(missing)}")
    wrong = [key for key, kind in LINE_KEYS.items() if not isinstance(line[key], kind)]
    if wrong:
        raise LineError(f"has the wrong type for {', '.join(wrong)}")
    return line


def line_file(output: Path, line: dict) -> Path:
    """The file a line names, resolved inside ``output``; LineError if it would be elsewhere."""
    try:
        return resolve_inside(output, line["file"])
    except ValueError as error:
        raise LineError(f"names a file outside its output folder: {error}") from None


def sha256_file(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


class JobManifest:
    def __init__(self, output: Path):
        self.path = Path(output) / MANIFEST
        self._lock = threading.Lock()

    def read_valid(self) -> dict[str, dict]:
        """id -> line for every line that parses and whose file exists with its checksum."""
        if not self.path.exists():
            return {}
        valid: dict[str, dict] = {}
        for text in self.path.read_text(errors="replace").splitlines():
            try:
                line = parse_line(text)
                file = line_file(self.path.parent, line)
            except LineError:
                continue  # a torn line from a killed run (or not sigctl's: never followed)
            if file.is_file() and sha256_file(file) == line["sha256"]:
                valid[line["id"]] = line
        return valid

    def rewrite(self, lines: list[dict]) -> None:
        """Replace the manifest by ``lines`` atomically (drops torn, stale and duplicate lines)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = temporary_beside(self.path)
        with open(temporary, "w") as stream:
            for line in lines:
                stream.write(json.dumps(line, sort_keys=True) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, self.path)

    def append(self, line: dict) -> None:
        with self._lock, open(self.path, "a") as stream:
            stream.write(json.dumps(line, sort_keys=True) + "\n")
            stream.flush()
            os.fsync(stream.fileno())
