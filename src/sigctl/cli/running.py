"""Where a request runs (in process or on a server) and how its images are written: shared by the
sampling and manipulation commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from sigctl.core.images import save_png
from sigctl.core.operations import Request
from sigctl.core.paths import nearest_existing, probe_writable
from sigctl.core.pixels import make_grid
from sigctl.errors import SettingsError

IMAGE_SUFFIXES = (".png",)


def run_request(request: Request, local: Path | None, server: str | None, model: str | None, device: str = "cpu") -> np.ndarray:
    """Answer ``request`` in process (``--local RUN``) or over gRPC (``--server HOST:PORT``)."""
    if (local is None) == (server is None):
        raise SettingsError("give either --local RUN_DIR (in process) or --server HOST:PORT (a running sigctl serve)")
    if local is not None:
        from sigctl import artifact
        from sigctl.core.operations import execute

        return execute(artifact.load(local, device=device).executor(), request)
    from sigctl.client import SigClient

    with SigClient(server, model) as client:
        return client.run(request)


def write_images(out: Path, images: np.ndarray, seed: int) -> list[Path]:
    """One image to ``out`` (a .png); several to OUT_seedS.png each plus OUT_grid.png."""
    out = Path(out)
    check_writable_output(out, "--out", folder=False, suffixes=IMAGE_SUFFIXES)
    if len(images) == 1:
        save_png(out, images[0])
        return [out]
    written = []
    for index, image in enumerate(images):
        path = out.with_name(f"{out.stem}_seed{seed + index}.png")
        save_png(path, image)
        written.append(path)
    save_png(out.with_name(f"{out.stem}_grid.png"), make_grid(list(images)))
    return written


def check_writable_output(out: Path, option: str, folder: bool, suffixes: tuple[str, ...] = ()) -> None:
    """Before any work: ``out`` (a folder, or a file with one of ``suffixes``) can be written."""
    out = Path(out)
    if suffixes and out.suffix.lower() not in suffixes:
        raise SettingsError(f"{option} must name a {' or '.join(suffixes)} file, got {out}")
    if out.exists() and out.is_dir() != folder:
        raise SettingsError(f"{option} {out} is {'a file' if folder else 'a directory'}; give {'a folder' if folder else 'a file name'}")
    existing = nearest_existing(out if folder else out.parent)
    if not existing.is_dir():
        raise SettingsError(f"{option} {out}: {existing} is a file, so nothing can be written below it")
    try:
        probe_writable(existing)
    except OSError as error:
        raise SettingsError(f"{option} {out}: cannot write in {existing} ({error.strerror or error}); choose another place") from None
