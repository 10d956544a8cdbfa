"""ConSinGAN's fine-tuning (its ``--fine_tune``): a finished model trained further on a naive image.

For harmonization and editing the reference code re-trains the newest stages for a few hundred
iterations with the naive image (a pasted object, an edited layout) entering stage 0 in place of
noise, so the generator learns to carry that input's layout into the training image's style. Here:
the finished run's last state (its model and final discriminator, from ``checkpoints/``) is loaded,
the newest stages train ``iterations`` more iterations with the naive image (plus ``input_noise``
x unit noise for editing, as the reference) as the stage-0 input of the fakes (the reconstruction keeps its real image), and a new
artifact is written that exports and serves like any other. The source run is never modified.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path

import torch

from sigctl import artifact
from sigctl.artifact import files
from sigctl.artifact.manifest import Manifest
from sigctl.config import settings_from_dict
from sigctl.core.paths import temporary_beside
from sigctl.core.images import MAX_REQUEST_IMAGE_PIXELS, MAX_TRAINING_PIXELS, load_rgb
from sigctl.core.pixels import resize, resize_uint8, to_network
from sigctl.errors import RunStateError, SettingsError
from sigctl.training.checkpoints import load_checkpoint
from sigctl.training.loop import TrainingObserver, check_new_run_dir, resolve_device, training_context
from sigctl.training.loss_window import LossWindow
from sigctl.training.precision import effective_precision, step_precision
from sigctl.training.recipes import RECIPES, make_recipe
from sigctl.training.reports import write_loss_plot, write_sample_grid

log = logging.getLogger(__name__)

MAX_FINETUNE_ITERATIONS = 100_000
LOG_POINTS = 100


def finetune(
    run_dir: Path, naive_image: Path, out_dir: Path, iterations: int = 500, observer: TrainingObserver | None = None, device: str = "auto",
    input_noise: float = 0.0,
) -> Manifest:
    """Fine-tune the ConSinGAN model in ``run_dir`` on ``naive_image`` into the new run ``out_dir``.

    ``input_noise``: unit noise added to the naive image at stage 0 (0 for harmonization, as the
    reference; 0.1, ``EDITING_INPUT_NOISE``, for editing).
    """
    run_dir, out_dir, observer = Path(run_dir), Path(out_dir), observer or TrainingObserver()
    if not 0.0 <= input_noise <= 1.0:
        raise SettingsError(f"--input-noise must be between 0 and 1, got {input_noise:g}")
    if not 1 <= iterations <= MAX_FINETUNE_ITERATIONS:
        raise SettingsError(f"--iterations must be between 1 and {MAX_FINETUNE_ITERATIONS}, got {iterations}")
    loaded = artifact.load(run_dir)
    if not hasattr(RECIPES.get(loaded.manifest.recipe), "begin_finetune"):
        raise SettingsError(f"{run_dir} is a {loaded.manifest.recipe} model; fine-tuning is for ConSinGAN-family models (train with --recipe consingan or involution)")
    check_new_run_dir(out_dir)
    if out_dir.resolve() == run_dir.resolve():
        raise SettingsError("--out must be a new run directory: fine-tuning never modifies the source run")
    naive = load_rgb(naive_image, max_pixels=MAX_REQUEST_IMAGE_PIXELS)
    try:
        settings = settings_from_dict(loaded.manifest.training, source=str(run_dir / files.MANIFEST))
    except SettingsError as error:
        raise RunStateError(f"cannot fine-tune {run_dir}: its training settings no longer read as settings of this sigctl ({error})") from None
    settings = settings.model_copy(update={"device": device})
    reference = load_rgb(run_dir / files.REFERENCE, max_pixels=MAX_TRAINING_PIXELS)
    torch_device = resolve_device(settings.device)
    recipe = make_recipe(training_context(settings, reference, loaded.spec.layout, torch_device))
    _load_final_state(recipe, loaded, run_dir)
    first_size = loaded.spec.layout.sizes[0]
    naive_first = torch.from_numpy(resize(to_network(resize_uint8(naive, *reference.shape[:2])), *first_size))[None]
    torch.manual_seed(settings.seed * 10_007 + 999_983)  # the gradient penalty's mixes: a function of the seed
    recipe.begin_finetune(naive_first, iterations, input_noise)

    # Built in a temporary folder beside --out and renamed at the end: a killed fine-tune leaves no
    # half-written run (only a sigctl temporary, removed here when it can be).
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    building = temporary_beside(out_dir)
    building.mkdir()
    try:
        manifest = _train_into(building, recipe, loaded, run_dir, naive_image, reference, settings, iterations, input_noise, observer, torch_device)
        if out_dir.exists():
            out_dir.rmdir()  # checked empty above; rename needs it gone
        building.rename(out_dir)
    finally:
        if building.exists():
            shutil.rmtree(building)
    return manifest


def _train_into(out_dir, recipe, loaded, run_dir, naive_image, reference, settings, iterations, input_noise, observer, torch_device) -> Manifest:
    shutil.copyfile(run_dir / files.REFERENCE, out_dir / files.REFERENCE)
    stage = loaded.spec.num_stages - 1
    loss_log = [dict(entry) for entry in files.read_json_lines(run_dir / files.LOSS_LOG)]
    window, every = LossWindow(), max(1, iterations // LOG_POINTS)
    observer.run_started(1, 0, [iterations])
    observer.stage_started(0)
    started = time.perf_counter()
    precision = effective_precision(settings.precision, torch_device)  # the run's own, as it trained
    for iteration in range(iterations):
        with step_precision(precision, torch_device):
            window.add(recipe.step(iteration))
        observer.step(0, iteration)
        if (iteration + 1) % every == 0 or iteration == iterations - 1:
            losses = window.close()
            loss_log.append({"stage": stage, "iteration": iteration, "finetune": True, **losses})
            observer.window_closed(0, iteration, losses)
    recipe.end_stage()
    observer.stage_finished(0)
    seconds = time.perf_counter() - started

    model = recipe.model.eval()
    files.write_atomic(out_dir / files.LOSS_LOG, lambda tmp: tmp.write_text("".join(json.dumps(e) + "\n" for e in loss_log)))
    write_loss_plot(out_dir / files.LOSS_PLOT, loss_log)
    write_sample_grid(out_dir / files.SAMPLES, model, reference, settings.report_samples)
    provenance = {
        **loaded.manifest.training,
        "finetune": {
            "source_run": str(run_dir), "source_manifest_sha256": files.sha256_of(run_dir / files.MANIFEST),
            "naive_image": Path(naive_image).name, "naive_image_sha256": files.sha256_of(Path(naive_image)),
            "iterations": iterations, "stage_input_noise": input_noise,
        },
    }
    return artifact.save(out_dir, model, provenance, loaded.manifest.image, loaded.manifest.training_seconds + seconds, str(torch_device))


def _load_final_state(recipe, loaded, run_dir: Path) -> None:
    """The run's state after its last stage (model and final discriminator); the model alone if the
    checkpoints were deleted (then the discriminator starts fresh, which fine-tuning survives worse)."""
    checkpoint = load_checkpoint(run_dir) if (run_dir / files.CHECKPOINTS).is_dir() else None
    if checkpoint is not None and checkpoint.completed_stages == loaded.spec.num_stages and checkpoint.stage_iterations_done == 0:
        recipe.load_state_dict(checkpoint.recipe_state)
        model_state, saved = recipe.model.state_dict(), loaded.model.state_dict()
        if all(torch.equal(model_state[k], saved[k].to(model_state[k].device)) for k in saved):
            return
        log.warning("%s: the checkpoint's model is not the artifact's; fine-tuning the artifact with a fresh discriminator", run_dir)
    else:
        log.warning("%s has no final checkpoint; fine-tuning with a fresh discriminator", run_dir)
    recipe.load_state_dict({"model": loaded.model.state_dict(), "stage_in_progress": None})
