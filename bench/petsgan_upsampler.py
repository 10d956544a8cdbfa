"""What PetsGAN's learned x2 upsampler adds over plain interpolation, after N iterations of its phase.

For each image (sources larger than the training size, so the phase trains on the source: the
case with a ground truth above the training size), the quick preset's upsampler is trained alone
(the fourth phase, from the run's seed) and then enlarges the *training image* x2; the result is
compared with the source resized to that size (PSNR over uint8 pixels, higher is better), beside
bilinear and the antialiased cubic resize of the same training image. In-sample by design: a
single-image model's upsampler is meant to learn that image's own detail; the 0-iteration row is
the untrained network (bilinear + random detail).

    .venv/bin/python bench/petsgan_upsampler.py [--iterations 0 100 300] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from sigctl.config import load_settings
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.training.loop import prepare_high_resolution, prepare_reference, training_context
from sigctl.training.recipes import make_recipe
from sigctl.training.recipes.petsgan import PHASES

IMAGES = ["examples/images/train/chelsea.png", "examples/images/train/balloons.png"]


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-12)))


def measure(image: str, iterations: int) -> tuple[dict[str, float], float]:
    """PSNR of each way to 2x the training image against the source at that size, and s per iteration."""
    settings = load_settings("quick", overrides={"recipe": "petsgan", "optimizer": {"upsampler_iterations": max(1, iterations)}})
    reference, info = prepare_reference(image, settings)
    high = prepare_high_resolution(image, settings, info)
    layout = settings.plan_pyramid(info.source_height, info.source_width)
    torch.manual_seed(settings.seed)
    recipe = make_recipe(training_context(settings, reference, layout, torch.device("cpu"), high))
    recipe.begin_stage(PHASES.index("upsampler"))
    start = time.perf_counter()
    for iteration in range(iterations):
        recipe.step(iteration)
    seconds = (time.perf_counter() - start) / max(1, iterations)
    height, width = reference.shape[:2]
    truth = to_uint8(resize(to_network(high), 2 * height, 2 * width))
    low = torch.from_numpy(to_network(reference))[None]
    with torch.no_grad():
        learned = recipe.model.upsampler(low)[0].numpy()
    bilinear = F.interpolate(low, scale_factor=2.0, mode="bilinear", align_corners=False)[0].numpy()
    cubic = resize(to_network(reference), 2 * height, 2 * width)
    return {name: psnr(to_uint8(values), truth) for name, values in (("learned", learned), ("bilinear", bilinear), ("cubic", cubic))}, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, nargs="+", default=[0, 100, 300])
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    table = Table(title="x2 of the training image against the source at that size, PSNR dB (quick preset, CPU)")
    for column in ("image", "upsampler iterations", "learned", "bilinear", "cubic", "s per iteration"):
        table.add_column(column, justify="right")
    for image in IMAGES:
        for iterations in args.iterations:
            scores, seconds = measure(image, iterations)
            table.add_row(image.rsplit("/", 1)[-1], str(iterations), f"{scores['learned']:.2f}", f"{scores['bilinear']:.2f}", f"{scores['cubic']:.2f}",
                          f"{seconds:.3f}" if iterations else "-")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
