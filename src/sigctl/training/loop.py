"""A training run's life: a new run directory or a resumed one, the stage loop, and the final artifact.

The iterations themselves, their logs and checkpoints are ``sigctl.training.stage_loop``'s.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import torch

from sigctl import artifact
from sigctl.artifact import files
from sigctl.artifact.manifest import ImageInfo, Manifest
from sigctl.config import TrainSettings, get_path, settings_from_dict
from sigctl.core.images import MAX_TRAINING_PIXELS, load_rgb, load_rgb_shrunk, save_png
from sigctl.core.paths import remove_temporaries
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.core.models.base import GenerativeModel
from sigctl.core.scales import PyramidLayout
from sigctl.errors import RunStateError, SettingsError
from sigctl.evaluation.runs import write_eval
from sigctl.training.checkpoints import Checkpoint, load_checkpoint
from sigctl.training.precision import effective_precision
from sigctl.training.recipes import TrainingContext, make_recipe
from sigctl.training.reports import write_loss_plot, write_sample_grid
from sigctl.training.rng import stage_seed
from sigctl.training.stage_loop import LOG_POINTS_PER_STAGE, TrainingObserver, run_stages

log = logging.getLogger(__name__)

RUN_INFO = "run.json"  # image provenance, written at the start of a run
HIGH_RESOLUTION = "high_resolution.png"  # the source above the training size, where the recipe trains on one (beside RUN_INFO)

__all__ = ["LOG_POINTS_PER_STAGE", "TrainingObserver", "prepare_reference", "resolve_device", "resume", "stage_seed", "train", "training_context"]

def resolve_device(requested: str) -> torch.device:
    if requested == "cuda" and not torch.cuda.is_available():
        raise SettingsError("device cuda was requested but PyTorch sees no CUDA GPU; use --device cpu or auto")
    if requested == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(requested)


def prepare_reference(image_path: Path, settings: TrainSettings) -> tuple[np.ndarray, ImageInfo]:
    """Read the training image, fit it to the maximum size, and check the pyramid fits it.

    The file's size is checked from its header, and a large image is shrunk while decoding to a
    few times ``max_size`` (the only size training needs), so memory stays bounded; sizes are
    planned from the file's own size.
    """
    rgb, (source_height, source_width) = load_rgb_shrunk(image_path, shrink_to=get_path(settings, settings.max_size_path))
    height, width = settings.fit_size(source_height, source_width)
    reference = to_uint8(resize(to_network(rgb), height, width))
    settings.plan_pyramid(source_height, source_width)
    info = ImageInfo(
        source_name=Path(image_path).name,
        source_sha256=files.sha256_of(Path(image_path)),
        source_height=source_height,
        source_width=source_width,
        height=height,
        width=width,
    )
    return reference, info


def prepare_high_resolution(image_path: Path, settings: TrainSettings, image_info: ImageInfo) -> np.ndarray | None:
    """The source image at ``settings.high_resolution_size`` (HxWx3 uint8), or None where the recipe needs none."""
    size = settings.high_resolution_size(image_info.source_height, image_info.source_width)
    if size is None:
        return None
    rgb, _ = load_rgb_shrunk(image_path, shrink_to=max(size))
    return to_uint8(resize(to_network(rgb), *size))


def train(image_path: Path, run_dir: Path, settings: TrainSettings, observer: TrainingObserver | None = None) -> Manifest:
    """Train a new pyramid on ``image_path`` into ``run_dir`` (which must be new or empty)."""
    run_dir = Path(run_dir)
    check_new_run_dir(run_dir)
    reference, image_info = prepare_reference(image_path, settings)
    high_resolution = prepare_high_resolution(image_path, settings, image_info)
    run_dir.mkdir(parents=True, exist_ok=True)
    save_png(run_dir / files.REFERENCE, reference)
    files.write_json_atomic(run_dir / files.SETTINGS, settings.model_dump(mode="json"))
    if high_resolution is not None:  # kept with the checkpoints: a resumed run trains on the same pixels
        save_png(run_dir / files.CHECKPOINTS / HIGH_RESOLUTION, high_resolution)
    files.write_json_atomic(run_dir / files.CHECKPOINTS / RUN_INFO, image_info.model_dump(mode="json"))
    return _run(run_dir, settings, image_info, reference, None, observer or TrainingObserver())


def resume(run_dir: Path, observer: TrainingObserver | None = None) -> Manifest:
    """Continue an interrupted run from its last checkpoint, with the settings it started with."""
    run_dir = Path(run_dir)
    if (run_dir / files.MANIFEST).exists():
        raise RunStateError(f"{run_dir} already holds a finished artifact; nothing to resume")
    needed = [run_dir / files.SETTINGS, run_dir / files.REFERENCE, run_dir / files.CHECKPOINTS / RUN_INFO]
    missing = [str(path) for path in needed if not path.exists()]
    if missing:
        raise RunStateError(f"cannot resume {run_dir}: {', '.join(missing)} missing; start a new run with 'sigctl train IMAGE'")
    try:
        settings_values = json.loads((run_dir / files.SETTINGS).read_text())
        image_info = ImageInfo.model_validate_json((run_dir / files.CHECKPOINTS / RUN_INFO).read_text())
    except (ValueError, UnicodeDecodeError) as error:  # JSONDecodeError and pydantic's ValidationError are ValueErrors
        raise RunStateError(f"cannot resume {run_dir}: its settings or run info are damaged ({str(error).splitlines()[0]})") from None
    if not isinstance(settings_values, dict):
        raise RunStateError(f"cannot resume {run_dir}: {run_dir / files.SETTINGS} does not hold settings")
    settings = settings_from_dict(settings_values, source=str(run_dir / files.SETTINGS))
    reference = load_rgb(run_dir / files.REFERENCE, max_pixels=MAX_TRAINING_PIXELS)
    for folder in (run_dir, run_dir / files.CHECKPOINTS):  # half-written files of the killed session, ours by name
        remove_temporaries(folder)
    return _run(run_dir, settings, image_info, reference, load_checkpoint(run_dir), observer or TrainingObserver())


def check_new_run_dir(run_dir: Path) -> None:
    if run_dir.exists() and not run_dir.is_dir():
        raise RunStateError(f"{run_dir} is a file; --out names the run directory to create")
    if (run_dir / files.MANIFEST).exists():
        raise RunStateError(f"{run_dir} already holds a trained artifact; choose another --out or delete it")
    if (run_dir / files.CHECKPOINTS).exists():
        raise RunStateError(f"{run_dir} holds an unfinished run; continue it with 'sigctl train --resume {run_dir}' or choose another --out")
    if run_dir.exists() and any(run_dir.iterdir()):
        raise RunStateError(f"{run_dir} exists and is not empty; choose another --out")


def training_context(
    settings: TrainSettings, reference: np.ndarray, layout: PyramidLayout, device: torch.device, high_resolution: np.ndarray | None = None
) -> TrainingContext:
    """What a recipe trains from: the planned layout, the real image at every scale (1x3xHxW in [-1, 1])
    and, where given, the source above the training size (HxWx3 uint8, ``prepare_high_resolution``)."""
    network_reference = to_network(reference)
    # Contiguous: at equal size resize returns its input's layout, which differs between a fresh run
    # (decoded image) and a resumed one (reference.png), and layout-sensitive kernels would then differ.
    reals = [torch.from_numpy(np.ascontiguousarray(resize(network_reference, h, w)))[None].to(device) for h, w in layout.sizes]
    high = None if high_resolution is None else torch.from_numpy(np.ascontiguousarray(to_network(high_resolution)))[None].to(device)
    return TrainingContext(settings=settings, layout=layout, reals=reals, device=device, high_resolution=high)


def _run(
    run_dir: Path, settings: TrainSettings, image_info: ImageInfo, reference: np.ndarray, checkpoint: Checkpoint | None, observer: TrainingObserver
) -> Manifest:
    device = resolve_device(settings.device)
    if image_info.source_height is None or image_info.source_width is None:
        raise RunStateError(f"{run_dir} was started by an older sigctl that did not record the source size; start a new run")
    layout = settings.plan_pyramid(image_info.source_height, image_info.source_width)
    if layout.finest_size != reference.shape[:2]:
        raise RunStateError(f"{run_dir}: its reference image is {reference.shape[0]}x{reference.shape[1]}, not the planned {layout.finest_size}")
    high_resolution_path = run_dir / files.CHECKPOINTS / HIGH_RESOLUTION
    if settings.high_resolution_size(image_info.source_height, image_info.source_width) is not None and not high_resolution_path.exists():
        raise RunStateError(
            f"{high_resolution_path} is missing (the source image above the training size this run trains its upsampler on, "
            f"or the run was started by an older sigctl); start a new run with 'sigctl train IMAGE'"
        )
    # Read back from the file in fresh and resumed runs alike (PNG keeps uint8 pixels exactly).
    high_resolution = load_rgb(high_resolution_path, max_pixels=MAX_TRAINING_PIXELS) if high_resolution_path.exists() else None
    recipe = make_recipe(training_context(settings, reference, layout, device, high_resolution))
    result = run_stages(
        recipe, run_dir, checkpoint, observer, seed=settings.seed, checkpoint_interval_seconds=settings.checkpoint_interval_seconds,
        precision=effective_precision(settings.precision, device),
    )
    return _finish(run_dir, recipe.model, settings, image_info, reference, result.loss_log, result.training_seconds, device)


def _finish(
    run_dir: Path, model: GenerativeModel, settings: TrainSettings, image_info: ImageInfo, reference: np.ndarray, loss_log: list[dict], seconds: float, device: torch.device
) -> Manifest:
    model.eval()
    files.write_atomic(run_dir / files.LOSS_LOG, lambda tmp: tmp.write_text("".join(json.dumps(e) + "\n" for e in loss_log)))
    write_loss_plot(run_dir / files.LOSS_PLOT, loss_log)
    write_sample_grid(run_dir / files.SAMPLES, model, reference, settings.report_samples)
    manifest = artifact.save(run_dir, model, settings, image_info, training_seconds=seconds, device=str(device))
    write_eval(run_dir)  # the model's own scores (eval.json), made through the public sampling path
    return manifest
