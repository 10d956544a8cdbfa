"""``sigctl finetune``: ConSinGAN's fine-tuning on a naive image, into a new run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sigctl.cli.common import INTERRUPTED_EXIT, command, console, error_console
from sigctl.cli.running import check_writable_output, write_images
from sigctl.cli.train import progress_observer
from sigctl.core.images import load_mask, load_rgb
from sigctl.training.finetune import finetune


@command
def finetune_command(
    run: Annotated[Path, typer.Argument(help="A finished ConSinGAN or involution run directory (never modified).")],
    image: Annotated[Path, typer.Option("--image", help="The naive image: a pasted object or an edited layout.")],
    out: Annotated[Path, typer.Option("--out", help="The new run directory to write.")],
    mask: Annotated[Optional[Path], typer.Option(help="Mask of the region to harmonize (white); writes OUT/harmonized.png as a preview.")] = None,
    iterations: Annotated[int, typer.Option(help="Fine-tuning iterations of the newest stages.")] = 500,
    input_noise: Annotated[float, typer.Option(help="Unit noise added to the naive image at stage 0: 0 for harmonization, 0.1 for editing (the reference's).")] = 0.0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
) -> None:
    """Train a ConSinGAN-family model (consingan, involution) further with a naive image entering its first stage; the new run
    exports, serves and harmonizes/edits like any other."""
    check_writable_output(out, "--out", folder=True)
    naive_mask = load_mask(mask) if mask is not None else None
    with progress_observer() as observer:
        try:
            manifest = finetune(run, image, out, iterations, observer, device, input_noise)
        except KeyboardInterrupt:
            error_console.print(f"interrupted: nothing was written to {out}; {run} is unchanged")
            raise typer.Exit(INTERRUPTED_EXIT) from None
    console.print(f"fine-tuned {run} for {iterations} iterations in {manifest.training_seconds:.0f} s (total) -> {out}")
    if naive_mask is not None:
        from sigctl import artifact
        from sigctl.core.operations import Request, execute

        harmonized = execute(artifact.load(out).executor(), Request("harmonize", image=load_rgb(image), mask=naive_mask))
        written = write_images(out / "harmonized.png", harmonized, seed=0)
        console.print(f"harmonized preview: {written[0]}")
