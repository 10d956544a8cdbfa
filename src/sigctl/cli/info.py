"""``sigctl info``: what a trained pyramid is made of."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sigctl.artifact.store import read_manifest, verify_checksums
from sigctl.cli.common import command, console
from sigctl.cli.eval import print_run_scores


@command
def info_command(run: Annotated[Path, typer.Argument(help="Run directory written by 'sigctl train'.")]) -> None:
    """Print the pyramid: scales, sizes, channels, noise amplitudes and training time."""
    manifest = read_manifest(run)
    verify_checksums(run, manifest)
    console.print(
        f"[bold]{run}[/]: recipe {manifest.recipe}, trained on {manifest.image.source_name} "
        f"({manifest.image.height}x{manifest.image.width}) in {manifest.training_seconds:.0f} s on {manifest.device}, "
        f"sigctl {manifest.package_version}, format {manifest.format_version}"
    )
    console.print(f"{len(manifest.scales)} scales, factor {manifest.scale_factor:.4f} between scales, padding {manifest.network.padding_mode}")
    table = Table("scale", "height", "width", "channels", "noise amplitude")
    for scale in manifest.scales:
        table.add_row(str(scale.index), str(scale.height), str(scale.width), str(scale.channels), f"{scale.noise_amplitude:.5f}")
    console.print(table)
    console.print("scale 0 is the coarsest (the SinGAN paper numbers scales from the finest).")
    print_run_scores(run)
