"""``sigctl info``: what a trained model is made of."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sigctl import artifact
from sigctl.cli.common import command, console
from sigctl.cli.eval import print_run_scores


@command
def info_command(run: Annotated[Path, typer.Argument(help="Run directory written by 'sigctl train'.")]) -> None:
    """Print the model: its stages, sizes, noise, amplitudes, modes and training time."""
    loaded = artifact.load(run)
    manifest, spec = loaded.manifest, loaded.spec
    console.print(
        f"[bold]{run}[/]: recipe {manifest.recipe} (model {spec.model_class}), trained on {manifest.image.source_name} "
        f"({manifest.image.height}x{manifest.image.width}) in {manifest.training_seconds:.0f} s on {manifest.device}, "
        f"sigctl {manifest.package_version}, format {manifest.format_version}",
        soft_wrap=True,
    )
    spacing = "dense at low resolution" if spec.layout.stage_scales is not None else f"factor {spec.layout.scale_factor:.4f} between stages"
    console.print(f"{spec.num_stages} stages, {spacing}; state between stages: {spec.state_channels} channels")
    channels = spec.extra.get("stage_channels")
    table = Table("stage", "height", "width", *(["channels"] if channels else []), "noise (channels, margin)", "noise amplitude")
    for stage, (height, width) in enumerate(spec.layout.sizes):
        noise = spec.noises[stage]
        noise_text = f"{1 if noise.shared_channel else noise.channels}{' (repeated)' if noise.shared_channel else ''}, {noise.margin} px"
        row = [str(stage), str(height), str(width), *([str(channels[stage])] if channels else []), noise_text, f"{spec.noise_amplitudes[stage]:.5f}"]
        table.add_row(*row)
    console.print(table)
    console.print(f"modes: {', '.join(spec.modes)}")
    if spec.super_resolution_factor is not None:
        console.print(f"trained for super-resolution x{spec.super_resolution_factor:g}")
    if spec.upsampler_graph() is not None:
        console.print("learned x2 upsampler: --upscale 2 or 4 gives 2 or 4 x the generated size")
    console.print("stage 0 is the coarsest (the SinGAN paper numbers scales from the finest).")
    print_run_scores(run)
