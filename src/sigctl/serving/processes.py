"""Triton's python-backend stub processes, read from /proc (stdlib only: the admission model uses it too)."""

from __future__ import annotations

import re
from pathlib import Path

STUB_NAME = "triton_python_backend_stub"


def children(parent: int) -> list[int]:
    """Process ids of ``parent``'s children (every thread's), [] if it is gone."""
    try:
        tasks = list(Path(f"/proc/{parent}/task").iterdir())
    except OSError:
        return []
    found = []
    for task in tasks:
        # Threads come and go (tritonserver has dozens): one that ended meanwhile must not hide the others' children.
        try:
            found.extend(int(pid) for pid in (task / "children").read_text().split())
        except OSError:
            continue
    return found


def stub_counts(server_pid: int) -> dict[str, int]:
    """Model name -> number of live stub processes under the tritonserver ``server_pid``."""
    counts: dict[str, int] = {}
    for pid in children(server_pid):
        try:
            arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if len(arguments) > 1 and arguments[0].endswith(STUB_NAME.encode()):
            model = _model_of(arguments)
            counts[model] = counts.get(model, 0) + 1
    return counts


def _model_of(arguments: list[bytes]) -> str:
    """The model a stub serves: its instance name (argument 8) is MODEL_GROUP_INSTANCE for the unnamed
    instance groups sigctl writes; VERSION/model.py's folder (argument 1) is a download folder for a
    repository on S3, so it is only the fallback."""
    if len(arguments) > 8 and (match := re.fullmatch(r"(.+)_\d+_\d+", arguments[8].decode(errors="replace"))):
        return match.group(1)
    return Path(arguments[1].decode(errors="replace")).parent.parent.name


def stub_pids_with_prefix(prefix: str) -> list[int]:
    """Stubs whose shared-memory region names this server's prefix (orphans after a hard kill)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if STUB_NAME.encode() in arguments and prefix.encode() in arguments:
            found.append(int(entry.name))
    return found
