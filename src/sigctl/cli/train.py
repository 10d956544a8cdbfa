"""``sigctl train``: train a pyramid on one image, or resume an interrupted run."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sigctl.cli.common import INTERRUPTED_EXIT, command, console, error_console
from sigctl.cli.running import check_writable_output
from sigctl.config import SETTINGS_CLASSES, load_settings, preset_names, read_config_file, resolve_recipe, set_path
from sigctl.core.models.cost import stage_macs
from sigctl.errors import SettingsError
from sigctl.training import loop
from sigctl.training.recipes import RECIPES


@command
def train_command(
    image: Annotated[Optional[Path], typer.Argument(help="Training image (PNG, JPEG, ...).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory to create [default: runs/IMAGE_NAME].")] = None,
    preset: Annotated[str, typer.Option(help=f"Settings preset of the recipe: {', '.join(preset_names())}.")] = "paper",
    config: Annotated[Optional[Path], typer.Option(help="YAML file of settings merged over the preset.")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Training recipe: singan, consingan or involution.")] = None,
    factor: Annotated[Optional[float], typer.Option(help="Train SinGAN for super-resolution by this factor (reconstruction weight 100 unless set).")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    precision: Annotated[Optional[str], typer.Option(help="fp32, or bf16 autocast where the CPU or GPU has bf16 (else fp32 with a warning).")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed.")] = None,
    max_size: Annotated[Optional[int], typer.Option(help="Longer side of the finest stage, px.")] = None,
    iterations: Annotated[Optional[int], typer.Option(help="Iterations per stage.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the interrupted run in this directory.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved settings and the pyramid, then exit.")] = False,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write losses and sample grids to RUN/tensorboard (needs the watch extra).")] = False,
    external_prior: Annotated[
        Optional[Path],
        typer.Option("--external-prior", help="PetsGAN: a pretrained GENERATOR (TorchScript, torch.export *.pt2 or ONNX *.onnx; latent [B, D] in, image [B, 3, H, W] in [-1, 1] out) whose inversion jitters join the prior data.", metavar="GENERATOR"),
    ] = None,
) -> None:
    """Train a generator pyramid on one image; Ctrl-C keeps the last checkpoint for --resume."""
    if resume is not None:
        if image is not None:
            raise SettingsError("give either IMAGE (a new run) or --resume DIR, not both")
        _run_with_progress(lambda observer: loop.resume(resume, observer), resume, tensorboard)
        return
    if image is None:
        raise SettingsError("give the training IMAGE, or --resume DIR to continue a run")
    overrides: dict[str, Any] = {}
    for key, value in (("recipe", recipe), ("device", device), ("precision", precision), ("seed", seed)):
        if value is not None:
            overrides[key] = value
    if factor is not None:
        # The settings turn a factor into super-resolution with alpha 100 (unless the config sets alpha).
        overrides["super_resolution_factor"] = factor
    # --max-size and --iterations name a different setting in each recipe's settings.
    chosen = SETTINGS_CLASSES[resolve_recipe(read_config_file(config) if config else {}, overrides)]
    if max_size is not None:
        overrides = set_path(overrides, chosen.max_size_path, max_size)
    if iterations is not None:
        overrides = set_path(overrides, chosen.iterations_path, iterations)
    if external_prior is not None:
        if "external_prior" not in chosen.model_fields:
            raise SettingsError(f"--external-prior is PetsGAN's (add --recipe petsgan); the {chosen.model_fields['recipe'].default} recipe has no prior generator")
        overrides = set_path(overrides, ("external_prior", "generator"), str(external_prior))
        overrides = set_path(overrides, ("external_prior", "generator_sha256"), None)  # hashed anew: a config's pin was for its own file
    settings = load_settings(preset, config, overrides)
    run_dir = out or Path("runs") / image.stem
    if dry_run:
        _, image_info = loop.prepare_reference(image, settings)
        layout = settings.plan_pyramid(image_info.source_height, image_info.source_width)
        console.print_json(json.dumps(settings.model_dump(mode="json")))
        _print_plan(layout, settings)
        console.print(f"would write: {run_dir}")
        return
    check_writable_output(run_dir, "--out", folder=True)
    _run_with_progress(lambda observer: loop.train(image, run_dir, settings, observer), run_dir, tensorboard)


def _print_plan(layout, settings) -> None:
    model = RECIPES[settings.recipe].untrained_model(settings, layout)
    spec, macs = model.spec(settings.recipe), stage_macs(model)
    channels = spec.extra.get("stage_channels")
    table = Table()
    for column in ("stage", "size", "channels" if channels else "noise channels", "GMAC per sample"):
        table.add_column(column, justify="right")
    for stage, (height, width) in enumerate(layout.sizes):
        shown = channels[stage] if channels else spec.noises[stage].channels
        table.add_row(str(stage), f"{height}x{width}", str(shown), f"{macs[stage] / 1e9:.2f}")
    table.add_row("all", "", "", f"{sum(macs) / 1e9:.1f}")
    height, width = layout.finest_size
    parameters = sum(p.numel() for p in model.parameters())
    if "plan" in spec.extra:  # a model that names its own stages (PetsGAN)
        spacing = f"{spec.extra['plan']}): {layout.num_scales} stages"
    elif layout.stage_scales is None:
        spacing = f"{settings.pyramid.plan} plan): {layout.num_scales} stages, factor {layout.scale_factor:.4f}"
    else:
        spacing = f"{settings.stages.spacing} spacing): {layout.num_scales} stages"
    console.print(
        f"{settings.recipe} ({spacing}, finest {height}x{width}, "
        f"{parameters / 1e6:.2f} M generator parameters, {sum(macs) / 1e9:.1f} GMAC per sample",
        soft_wrap=True,
    )
    console.print(table)


@contextmanager
def progress_observer(tensorboard_dir: Path | None = None) -> Iterator[loop.TrainingObserver]:
    """Progress bars for the run and the current stage, drawn while the block runs; with
    ``tensorboard_dir``, TensorBoard event files too."""
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    observer: loop.TrainingObserver = _ProgressObserver(progress)
    watcher = None
    if tensorboard_dir is not None:
        from sigctl.training.watching import Observers, TensorBoardObserver

        watcher = TensorBoardObserver(tensorboard_dir)
        observer = Observers(observer, watcher)
    try:
        with progress:
            yield observer
    finally:
        if watcher is not None:
            watcher.close()


def _run_with_progress(start, run_dir: Path, tensorboard: bool = False) -> None:
    from sigctl.training.watching import TENSORBOARD_DIR

    try:
        with progress_observer(run_dir / TENSORBOARD_DIR if tensorboard else None) as observer:
            manifest = start(observer)
    except KeyboardInterrupt:
        error_console.print(f"interrupted: training up to the last checkpoint is kept; continue with  sigctl train --resume {run_dir}")
        raise typer.Exit(INTERRUPTED_EXIT) from None
    console.print(
        f"trained {manifest.recipe} in {manifest.training_seconds:.0f} s -> {run_dir} "
        f"(samples.png, losses.png, eval.json; try: sigctl sample --local {run_dir})"
    )
    _print_scores(run_dir)
    if tensorboard:
        console.print(f"TensorBoard event files: tensorboard --logdir {run_dir / TENSORBOARD_DIR}")


def _print_scores(run_dir: Path) -> None:
    from sigctl.evaluation.record import read_run_scores, score_rows

    scores = read_run_scores(run_dir)
    if scores is not None:
        console.print("scores: " + "; ".join(f"{name} {value}" for name, value in score_rows(scores)), soft_wrap=True, highlight=False)


class _ProgressObserver(loop.TrainingObserver):
    """Two bars: the whole run and the current stage, with the latest losses."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None:
        self.num_stages = num_stages
        self.iterations = iterations
        self.overall = self.progress.add_task("total", total=sum(iterations), completed=sum(iterations[:first_stage]), losses="")
        self.current = None

    def stage_started(self, stage: int, first_iteration: int = 0) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(
            f"stage {stage + 1}/{self.num_stages}", total=self.iterations[stage], completed=first_iteration, losses=""
        )
        self.progress.advance(self.overall, first_iteration)

    def step(self, stage: int, iteration: int) -> None:
        # Counts only: the losses come once per log window (reading them every step would wait for the GPU).
        self.progress.advance(self.current)
        self.progress.advance(self.overall)

    def window_closed(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        text = " ".join(f"{name} {value:+.3f}" for name, value in losses.items())
        self.progress.update(self.current, losses=text)
