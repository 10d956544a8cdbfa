"""Paths sigctl writes: its own temporary names, and paths built from user text that must stay put.

sigctl deletes only what it provably made. Every half-written file gets a name no user file has
(``TEMPORARY_PREFIX`` + random + the final name), so a later run may remove such names in a folder
it owns, and nothing else. A path built from text in a job file, a manifest or an artifact is
checked to stay inside the folder it belongs to before anything is read or written there.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import tempfile
from pathlib import Path, PurePosixPath

TEMPORARY_PREFIX = ".sigctl-tmp-"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def temporary_beside(path: Path) -> Path:
    """A fresh temporary name in ``path``'s folder; it ends with ``path``'s name (so its suffix too)."""
    path = Path(path)
    return path.with_name(f"{TEMPORARY_PREFIX}{secrets.token_hex(8)}-{path.name}")


def is_temporary(path: Path) -> bool:
    return Path(path).name.startswith(TEMPORARY_PREFIX)


def remove_temporaries(folder: Path) -> list[Path]:
    """Delete sigctl's temporary files directly in ``folder`` (not below it); returns what went."""
    removed = []
    if not Path(folder).is_dir():
        return removed
    for entry in Path(folder).iterdir():
        if is_temporary(entry) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
            removed.append(entry)
    return removed


def relative_inside(text: str) -> PurePosixPath:
    """``text`` as a relative path that cannot leave the folder it is joined to; ValueError if not.

    Refused: empty text, absolute paths, '..' components, NUL characters, and names that look like
    sigctl's temporary files (a later run would delete them). The error says why, in a few words
    that follow the text: ``f"{text!r} {error}"``.
    """
    if not text or "\0" in text:
        raise ValueError("is empty or contains a NUL character")
    path = PurePosixPath(text)
    if path.is_absolute():
        raise ValueError("is an absolute path")
    if ".." in path.parts:
        raise ValueError("climbs out of its folder with '..'")
    if any(part.startswith(TEMPORARY_PREFIX) for part in path.parts):
        raise ValueError(f"has a part starting with {TEMPORARY_PREFIX!r}, which sigctl reserves for its temporary files")
    if not path.parts or path.parts == (".",):
        raise ValueError("names no file")
    return path


def resolve_inside(folder: Path, relative: str | PurePosixPath) -> Path:
    """``folder / relative`` resolved (symbolic links followed); ValueError if it is not inside ``folder``."""
    base = Path(folder).resolve()
    try:
        resolved = (base / relative_inside(str(relative))).resolve()
    except ValueError as error:
        raise ValueError(f"{str(relative)!r} {error}") from None
    if resolved != base and base not in resolved.parents:
        raise ValueError(f"{str(relative)!r} leads outside {folder} (to {resolved}, through a symbolic link)")
    return resolved


def nearest_existing(path: Path) -> Path:
    """``path`` or its closest ancestor that exists."""
    path = Path(os.path.abspath(path))
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def probe_writable(folder: Path) -> None:
    """Raise OSError if a file cannot be created in ``folder`` (permissions, read-only or virtual filesystems)."""
    handle, name = tempfile.mkstemp(dir=folder, prefix=TEMPORARY_PREFIX)
    os.close(handle)
    os.unlink(name)
