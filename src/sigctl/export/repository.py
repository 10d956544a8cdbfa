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


def publish_version(repository: Path, name: str, build: Callable[[Path], None], config_text: str) -> int:
    """Build a new version with ``build(folder)``, rename it into place, then update config.pbtxt."""
    model_folder = Path(repository) / check_model_name(name)
    model_folder.mkdir(parents=True, exist_ok=True)
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
    write_atomic(model_folder / CONFIG, lambda temporary: temporary.write_text(config_text))
    return version
