"""Scoring any folder of samples (sigctl's or another tool's) against a real image."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from sigctl.core.images import load_rgb
from sigctl.core.paths import resolve_inside
from sigctl.errors import ImageInputError, SettingsError
from sigctl.evaluation import limits
from sigctl.evaluation.record import make_record
from sigctl.evaluation.runs import Evaluation
from sigctl.metrics import score_samples

SAMPLE_SUFFIX = ".png"


def is_grid(name: str) -> bool:
    """``sigctl sample`` writes grid.png (and OUT_grid.png) beside its samples: not a sample."""
    return name.lower() == "grid.png" or name.lower().endswith("_grid.png")


def sample_files(folder: Path, num: int | None = None) -> list[Path]:
    """The PNG samples directly in ``folder`` in natural name order (seed2 before seed10), grids and
    hidden files left out; at most ``num`` of them. Each must stay inside the folder."""
    folder = Path(folder)
    if not folder.exists():
        raise SettingsError(f"--samples {folder}: no such folder")
    if not folder.is_dir():
        raise SettingsError(f"--samples {folder} is a file; give the folder that holds the sample PNGs")
    names = sorted(
        (entry.name for entry in folder.iterdir() if entry.name.lower().endswith(SAMPLE_SUFFIX) and not entry.name.startswith(".") and not is_grid(entry.name)),
        key=_natural_key,
    )
    if not names:
        raise SettingsError(f"--samples {folder} holds no {SAMPLE_SUFFIX} files (grid.png and hidden files do not count)")
    if num is None and len(names) > limits.MAX_SAMPLES:
        raise SettingsError(f"--samples {folder} holds {len(names)} PNG files; at most {limits.MAX_SAMPLES} are scored: pass --num N to score the first N by name")
    names = names[: num or len(names)]
    if len(names) < limits.MIN_SAMPLES:
        raise SettingsError(f"--samples {folder} holds {len(names)} PNG file; pixel diversity needs at least {limits.MIN_SAMPLES} samples")
    paths = []
    for name in names:
        try:
            path = resolve_inside(folder, name)
        except ValueError as error:  # a symbolic link out of the folder, or a name sigctl reserves
            raise SettingsError(f"--samples {folder}: {error}; only files inside the folder are read") from None
        if not path.is_file():
            raise SettingsError(f"--samples {folder}: {name} is not a file")
        paths.append(path)
    return paths


def read_samples(paths: list[Path]) -> np.ndarray:
    """N x H x W x 3 uint8 from sample files that must all have one size within the bounds."""
    images = []
    for path in paths:
        image = load_rgb(path, max_pixels=limits.MAX_PIXELS)
        if images and image.shape != images[0].shape:
            raise ImageInputError(
                f"{path} is {image.shape[0]}x{image.shape[1]} but {paths[0].name} is {images[0].shape[0]}x{images[0].shape[1]}: "
                "samples are compared pixel by pixel (pixel diversity), so give a folder of one size"
            )
        if not images:
            limits.check_image_size(*image.shape[:2], str(path))
        images.append(image)
    return np.stack(images)


def load_real(path: Path) -> np.ndarray:
    """The real image a user names, within the evaluation bounds."""
    image = load_rgb(path, max_pixels=limits.MAX_PIXELS)
    limits.check_image_size(*image.shape[:2], str(path))
    return image


def evaluate_folder(real_path: Path, folder: Path, num: int | None = None, use_inception: bool | None = None) -> Evaluation:
    """Score the PNG samples in ``folder`` against the image at ``real_path``."""
    if num is not None:
        limits.check_num(num)
    real = load_real(real_path)
    paths = sample_files(folder, num)
    samples = read_samples(paths)
    scores = score_samples(real, list(samples), use_inception)
    source = {"kind": "folder", "real": str(real_path), "samples": str(folder), "files": [path.name for path in paths]}
    request = {"num_samples": len(paths), "height": int(samples.shape[1]), "width": int(samples.shape[2])}
    return Evaluation(Path(folder).name, real, samples, scores, make_record(source, request, scores.as_dict(), None))


def _natural_key(name: str) -> list:
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name.lower())]
