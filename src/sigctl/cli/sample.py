"""``sigctl sample``: random samples of any size, in process or from a server, as PNGs and a grid."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import numpy as np
import typer

from sigctl.cli.common import command, console
from sigctl.cli.running import check_writable_output, run_request
from sigctl.core.images import save_png
from sigctl.core.operations import MODE_SAMPLE, Request
from sigctl.core.pixels import make_grid


@command
def sample_command(
    local: Annotated[Optional[Path], typer.Option("--local", help="Sample in this process from the run directory RUN.")] = None,
    server: Annotated[Optional[str], typer.Option("--server", help="Sample from a Triton server at HOST:PORT (gRPC).")] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="Served model name [default: the only one served].")] = None,
    num: Annotated[int, typer.Option("--num", help="Number of samples.")] = 8,
    height: Annotated[Optional[int], typer.Option(help="Output height, px [default: training height].")] = None,
    width: Annotated[Optional[int], typer.Option(help="Output width, px [default: training width].")] = None,
    start_scale: Annotated[int, typer.Option(help="First scale given fresh noise; coarser scales follow the training image.")] = 0,
    seed: Annotated[int, typer.Option(help="Seed of the first sample; sample i uses seed + i.")] = 0,
    upscale: Annotated[int, typer.Option(help="2 or 4: generate at the size / UPSCALE, then the model's learned upsampler (PetsGAN) enlarges it; "
                                              "HEIGHT/WIDTH are the final size [default: training size x UPSCALE].")] = 1,
    out: Annotated[Path, typer.Option(help="Folder for the PNGs and grid.png.")] = Path("samples"),
    device: Annotated[str, typer.Option(help="cpu or cuda (with --local).")] = "cpu",
) -> None:
    """Draw random samples; the same model, seed and request always give the same pixels."""
    check_writable_output(out, "--out", folder=True)
    request = Request(MODE_SAMPLE, seed, num, height, width, start_scale, upscale=upscale)
    images = run_request(request, local, server, model, device)
    written = write_samples(out, images, seed, start_scale)
    console.print(f"wrote {len(written)} samples of {images.shape[1]}x{images.shape[2]} and grid.png to {out}")


def write_samples(out: Path, images: np.ndarray, seed: int, start_scale: int) -> list[Path]:
    """One PNG per sample, named by seed, size and start scale, plus grid.png of them all."""
    written = []
    for index, image in enumerate(images):
        path = out / f"seed{seed + index}_{image.shape[0]}x{image.shape[1]}_start{start_scale}.png"
        save_png(path, image)
        written.append(path)
    save_png(out / "grid.png", make_grid(list(images)))
    return written
