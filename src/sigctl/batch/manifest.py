"""The job's JSONL manifest: one line per finished item, appended and fsynced after its file.

A line is written only after its file was renamed into place, so a line always names a complete
file. A kill can at worst leave a torn last line (dropped on the next run) or a file without a
line (made again, identically).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

MANIFEST = "manifest.jsonl"


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
        for text in self.path.read_text().splitlines():
            try:
                line = json.loads(text)
                file = self.path.parent / line["file"]
                if file.exists() and sha256_file(file) == line["sha256"]:
                    valid[line["id"]] = line
            except (json.JSONDecodeError, KeyError, TypeError):
                continue  # a torn line from a killed run
        return valid

    def rewrite(self, lines: list[dict]) -> None:
        """Replace the manifest by ``lines`` atomically (drops torn, stale and duplicate lines)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(f".{self.path.name}.tmp")
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
