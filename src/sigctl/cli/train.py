"""``sigctl train``: train a pyramid on one image, or resume an interrupted run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from sigctl.cli.common import INTERRUPTED_EXIT, command, console, error_console
from sigctl.cli.running import check_writable_output
from sigctl.config import load_settings, preset_names
from sigctl.core.generator import generator_macs
from sigctl.errors import SettingsError
from sigctl.training import loop


@command
def train_command(
    image: Annotated[Optional[Path], typer.Argument(help="Training image (PNG, JPEG, ...).", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Run directory to create [default: runs/IMAGE_NAME].")] = None,
    preset: Annotated[str, typer.Option(help=f"Settings preset: {', '.join(preset_names())}.")] = "paper",
    config: Annotated[Optional[Path], typer.Option(help="YAML file of settings merged over the preset.")] = None,
    recipe: Annotated[Optional[str], typer.Option(help="Training algorithm: singan, or sr (super-resolution, needs --factor).")] = None,
    factor: Annotated[Optional[float], typer.Option(help="Super-resolution factor to train for; implies --recipe sr and reconstruction weight 100.")] = None,
    device: Annotated[Optional[str], typer.Option(help="auto, cpu or cuda.")] = None,
    seed: Annotated[Optional[int], typer.Option(help="Training seed.")] = None,
    max_size: Annotated[Optional[int], typer.Option(help="Longer side of the finest scale, px.")] = None,
    iterations: Annotated[Optional[int], typer.Option(help="Iterations per scale.")] = None,
    resume: Annotated[Optional[Path], typer.Option(help="Continue the interrupted run in this directory.")] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the resolved settings and the pyramid, then exit.")] = False,
    tensorboard: Annotated[bool, typer.Option("--tensorboard", help="Also write losses and sample grids to RUN/tensorboard (needs the watch extra).")] = False,
) -> None:
    """Train a generator pyramid on one image; Ctrl-C keeps finished scales for --resume."""
    if resume is not None:
        if image is not None:
            raise SettingsError("give either IMAGE (a new run) or --resume DIR, not both")
        _run_with_progress(lambda observer: loop.resume(resume, observer), resume, tensorboard)
        return
    if image is None:
        raise SettingsError("give the training IMAGE, or --resume DIR to continue a run")
    overrides: dict[str, Any] = {}
    for key, value in (("recipe", recipe), ("device", device), ("seed", seed)):
        if value is not None:
            overrides[key] = value
    if factor is not None:
        # The settings turn a factor into the sr recipe with alpha 100 (unless the config sets alpha).
        overrides["super_resolution_factor"] = factor
    if max_size is not None:
        overrides["pyramid"] = {"max_size": max_size}
    if iterations is not None:
        overrides["optimizer"] = {"iterations_per_scale": iterations}
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
    table = Table()
    for column in ("scale", "size", "channels", "GMAC per sample"):
        table.add_column(column, justify="right")
    total = 0
    for scale, (height, width) in enumerate(layout.sizes):
        channels = settings.network.channels_at(scale)
        macs = generator_macs(channels, settings.network, height, width)
        total += macs
        table.add_row(str(scale), f"{height}x{width}", str(channels), f"{macs / 1e9:.2f}")
    table.add_row("all", "", "", f"{total / 1e9:.1f}")
    height, width = layout.finest_size
    console.print(
        f"pyramid ({settings.pyramid.plan} plan): {layout.num_scales} scales, factor {layout.scale_factor:.4f}, "
        f"finest {height}x{width} with {settings.network.channels_at(layout.num_scales - 1)} channels, "
        f"{total / 1e9:.1f} GMAC per sample",
        soft_wrap=True,
    )
    console.print(table)


def _run_with_progress(start, run_dir: Path, tensorboard: bool = False) -> None:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    observer = _ProgressObserver(progress)
    watcher = None
    if tensorboard:
        from sigctl.training.watching import TENSORBOARD_DIR, Observers, TensorBoardObserver

        watcher = TensorBoardObserver(run_dir / TENSORBOARD_DIR)
        observer = Observers(observer, watcher)
    try:
        with progress:
            manifest = start(observer)
    except KeyboardInterrupt:
        error_console.print(f"interrupted: finished scales are kept; continue with  sigctl train --resume {run_dir}")
        raise typer.Exit(INTERRUPTED_EXIT) from None
    finally:
        if watcher is not None:
            watcher.close()
    console.print(
        f"trained {len(manifest.scales)} scales in {manifest.training_seconds:.0f} s -> {run_dir} "
        f"(samples.png, losses.png, eval.json; try: sigctl sample --local {run_dir})"
    )
    _print_scores(run_dir)
    if tensorboard:
        console.print(f"TensorBoard event files: tensorboard --logdir {run_dir / 'tensorboard'}")


class _ProgressObserver(loop.TrainingObserver):
    """Two bars: the whole run and the current scale, with the latest losses."""

    def __init__(self, progress: Progress):
        self.progress = progress

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None:
        self.num_stages = num_stages
        self.iterations = iterations
        self.overall = self.progress.add_task("total", total=sum(iterations), completed=sum(iterations[:first_stage]), losses="")
        self.current = None

    def stage_started(self, stage: int) -> None:
        if self.current is not None:
            self.progress.remove_task(self.current)
        self.current = self.progress.add_task(f"scale {stage + 1}/{self.num_stages}", total=self.iterations[stage], losses="")

    def step(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        text = " ".join(f"{name} {value:+.3f}" for name, value in losses.items())
        self.progress.update(self.current, advance=1, losses=text)
        self.progress.advance(self.overall)


def _print_scores(run_dir: Path) -> None:
    from sigctl.evaluation.record import read_run_scores, score_rows

    scores = read_run_scores(run_dir)
    if scores is not None:
        console.print("scores: " + "; ".join(f"{name} {value}" for name, value in score_rows(scores)), soft_wrap=True, highlight=False)
