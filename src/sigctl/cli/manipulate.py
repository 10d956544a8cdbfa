"""``sigctl paint|edit|harmonize|sr|animate|style``: inject an image into the pyramid, in process or served."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sigctl.cli.common import command, console
from sigctl.cli.running import IMAGE_SUFFIXES, check_writable_output, run_request, write_images
from sigctl.core.images import load_mask, load_rgb, save_animation
from sigctl.core.operations import MODE_ANIMATE, MODE_EDIT, MODE_HARMONIZE, MODE_PAINT, MODE_STYLE, MODE_SUPER_RESOLVE, Request

MIN_FPS, MAX_FPS = 0.1, 240.0
ANIMATION_SUFFIXES = (".gif", ".mp4")

Local = Annotated[Optional[Path], typer.Option("--local", help="Run in this process from the run directory RUN.")]
Server = Annotated[Optional[str], typer.Option("--server", help="Run on a Triton server at HOST:PORT (gRPC).")]
Model = Annotated[Optional[str], typer.Option("--model", help="Served model name [default: the only one served].")]
ImagePath = Annotated[Path, typer.Option("--image", help="Input image file.")]
MaskPath = Annotated[Path, typer.Option("--mask", help="Mask file, same size as the image; white = region to regenerate.")]
StartScale = Annotated[Optional[int], typer.Option(help="Scale the image is injected at [default: per mode, see README].")]
Seed = Annotated[int, typer.Option(help="Seed of the first output; output i uses seed + i.")]
Num = Annotated[int, typer.Option("--num", help="Number of outputs.")]
Height = Annotated[Optional[int], typer.Option(help="Output height, px [default: training height].")]
Width = Annotated[Optional[int], typer.Option(help="Output width, px [default: training width].")]
Dilation = Annotated[int, typer.Option(min=0, help="Grow the mask by this many px.")]
Blur = Annotated[int, typer.Option(min=0, help="Soften the mask edge over about this many px.")]
Out = Annotated[Path, typer.Option(help="Output .png (several outputs: OUT_seedS.png and OUT_grid.png).")]
Upscale = Annotated[int, typer.Option(help="2 or 4: generate at the size / UPSCALE, then the model's learned upsampler (PetsGAN) enlarges it.")]


def _run_and_write(request: Request, local, server, model, out: Path) -> None:
    check_writable_output(out, "--out", folder=False, suffixes=IMAGE_SUFFIXES)
    images = run_request(request, local, server, model)
    written = write_images(out, images, request.seed)
    console.print(f"{request.mode}: wrote {', '.join(str(p) for p in written)} ({images.shape[1]}x{images.shape[2]})")


@command
def paint_command(local: Local = None, server: Server = None, model: Model = None, image: ImagePath = ..., start_scale: StartScale = None,
                  quantize: Annotated[int, typer.Option(help="Map the painting to this many colours of the training image first (0: off).")] = 0,
                  seed: Seed = 0, num: Num = 1, height: Height = None, width: Width = None, out: Out = Path("paint.png")) -> None:
    """Paint-to-image: turn a clip-art painting into an image with the training image's texture."""
    request = Request(MODE_PAINT, seed, num, height, width, start_scale, image=load_rgb(image), quantize_colors=quantize)
    _run_and_write(request, local, server, model, out)


@command
def style_command(local: Local = None, server: Server = None, model: Model = None,
                  image: Annotated[Path, typer.Option("--image", help="Content image file.")] = ...,
                  height: Annotated[Optional[int], typer.Option(help="Output height, px [default: the content's aspect at the training size].")] = None,
                  width: Annotated[Optional[int], typer.Option(help="Output width, px [default: the content's aspect at the training size].")] = None,
                  upscale: Upscale = 1, out: Out = Path("style.png")) -> None:
    """Style transfer (PetsGAN models): the content image redrawn with the patches of the training (style) image."""
    request = Request(MODE_STYLE, 0, 1, height, width, image=load_rgb(image), upscale=upscale)
    _run_and_write(request, local, server, model, out)


def _masked_command(mode: str, default_out: str, summary: str):
    """edit and harmonize are one mechanism (inject at a middle scale, blend back through the mask)."""

    def masked_command(local: Local = None, server: Server = None, model: Model = None, image: ImagePath = ..., mask: MaskPath = ...,
                       start_scale: StartScale = None, seed: Seed = 0, num: Num = 1, height: Height = None, width: Width = None,
                       dilation: Dilation = 5, blur: Blur = 5, out: Out = Path(default_out)) -> None:
        request = Request(mode, seed, num, height, width, start_scale, image=load_rgb(image), mask=load_mask(mask),
                          mask_dilation=dilation, mask_blur=blur)
        _run_and_write(request, local, server, model, out)

    masked_command.__doc__ = summary
    return command(masked_command)


edit_command = _masked_command(MODE_EDIT, "edit.png", "Editing: make a copy-pasted edit look natural; pixels away from the mask stay as they are.")
harmonize_command = _masked_command(MODE_HARMONIZE, "harmonized.png", "Harmonization: blend a pasted object into the training image's look.")


@command
def sr_command(local: Local = None, server: Server = None, model: Model = None, image: ImagePath = ...,
               factor: Annotated[Optional[float], typer.Option(help="Upscaling factor [default: the one trained for].")] = None,
               seed: Seed = 0, out: Out = Path("super_resolved.png")) -> None:
    """Super-resolution with a pyramid trained by 'sigctl train IMAGE --factor F'."""
    request = Request(MODE_SUPER_RESOLVE, seed, image=load_rgb(image), sr_factor=factor)
    _run_and_write(request, local, server, model, out)


@command
def animate_command(local: Local = None, server: Server = None, model: Model = None,
                    frames: Annotated[int, typer.Option(help="Number of frames.")] = 30,
                    fps: Annotated[float, typer.Option(min=MIN_FPS, max=MAX_FPS, help="Frames per second of the file.")] = 10.0,
                    walk_strength: Annotated[float, typer.Option(help="Share of fresh noise per frame: higher moves faster.")] = 0.1,
                    anchor: Annotated[float, typer.Option(help="Pull towards the training image per frame: higher stays closer.")] = 0.1,
                    start_scale: StartScale = None, seed: Seed = 0, height: Height = None, width: Width = None,
                    out: Annotated[Path, typer.Option(help="Output .gif (or .mp4 with the video extra).")] = Path("animation.gif")) -> None:
    """Animation: a smooth random walk in noise space around the training image."""
    check_writable_output(out, "--out", folder=False, suffixes=ANIMATION_SUFFIXES)
    request = Request(MODE_ANIMATE, seed, 1, height, width, start_scale, frames=frames, walk_strength=walk_strength, anchor=anchor)
    clip = run_request(request, local, server, model)
    save_animation(out, clip, fps)
    console.print(f"animate: wrote {out} ({len(clip)} frames of {clip.shape[1]}x{clip.shape[2]} at {fps:g} fps)")
