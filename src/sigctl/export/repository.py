"""The Triton model repository: numbered, immutable versions, published atomically.

A version is built in a hidden temporary folder beside its final place and renamed into place
in one step, so a server polling the repository never sees half a model. Published versions are
never modified; a new export always adds the next number.
"""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path

from sigctl.artifact.files import write_atomic
from sigctl.errors import SettingsError

CONFIG = "config.pbtxt"
# In every model folder sigctl publishes to: a folder without it that holds anything is someone
# else's, and sigctl writes nothing there (Triton ignores files in a model folder).
MARKER = ".sigctl-model"
MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")


def check_model_name(name: str) -> str:
    if not MODEL_NAME.match(name):
        raise SettingsError(f"model name {name!r} is not usable: use letters, digits, '_', '-' or '.', starting with a letter or digit")
    return name


def published_versions(repository: Path, name: str) -> list[int]:
    folder = Path(repository) / name
    if not folder.is_dir():
        return []
    return sorted(int(entry.name) for entry in folder.iterdir() if entry.is_dir() and entry.name.isdigit())


def publish_version(repository: Path, name: str, build: Callable[[Path], None], config_text: str | Callable[[], str]) -> int:
    """Build a new version with ``build(folder)``, rename it into place, then update config.pbtxt.

    ``config_text`` may be a function, called after the build (for facts the build measured).
    """
    model_folder = Path(repository) / check_model_name(name)
    claim_model_folder(model_folder)
    staging = model_folder / f".incoming-{uuid.uuid4().hex}"
    staging.mkdir()
    try:
        build(staging)
        while True:
            version = (published_versions(repository, name) or [0])[-1] + 1
            try:
                # rename() fails if the target exists, so two exports racing never share a number.
                staging.rename(model_folder / str(version))
                break
            except OSError:
                if not (model_folder / str(version)).exists():
                    raise
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    text = config_text() if callable(config_text) else config_text
    write_atomic(model_folder / CONFIG, lambda temporary: temporary.write_text(text))
    return version


def check_model_folder(folder: Path) -> None:
    """Refuse a ``folder`` that holds someone else's files (writes nothing)."""
    folder = Path(folder)
    if folder.parent.exists() and not folder.parent.is_dir():
        raise SettingsError(f"model repository {folder.parent} is a file; give a folder (--repo, --native-repo)")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"{folder} is a file, not a model folder; choose another --name or --repo")
    if (folder / MARKER).exists():
        return
    if folder.is_dir() and any(folder.iterdir()) and not _written_by_sigctl(folder / CONFIG):
        raise SettingsError(
            f"{folder} exists and is not a model sigctl published (no {MARKER} and no config.pbtxt written by sigctl); "
            f"nothing was written: choose another --name or --repo"
        )


def claim_model_folder(folder: Path) -> None:
    """Make ``folder`` a model folder of sigctl's, or refuse if it holds someone else's files."""
    check_model_folder(folder)
    if (folder / MARKER).exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    (folder / MARKER).write_text("a Triton model folder sigctl publishes versions to\n")


def _written_by_sigctl(config: Path) -> bool:
    # Model folders published before the marker existed: their config names the sigctl version.
    try:
        return config.is_file() and 'key: "sigctl_version"' in config.read_text(errors="replace")
    except OSError:
        return False
