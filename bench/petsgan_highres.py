"""Time and peak memory of one PetsGAN sample at 256 and 1024 px (and SinGAN at 256 px beside it).

Each measurement runs in a fresh process, so its peak resident memory (ru_maxrss) is its own; the
model is the paper preset's, untrained (time and memory do not depend on the weights), for a 256 px
training image. PetsGAN's 1024 px sample is the generator at 128 px, the patch transfer against
the 2 x 26 x 26 reference patches, and the 8x restoration: no stage runs at 1024 px except the
restoration's last convolutions.

    .venv/bin/python bench/petsgan_highres.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time

from rich.console import Console
from rich.table import Table

CASES = [("singan", 256), ("petsgan", 256), ("petsgan", 512), ("petsgan", 1024)]


def _measure(recipe: str, size: int, threads: int, repeats: int, queue) -> None:
    import torch

    from sigctl.config import load_settings
    from sigctl.core.in_process import sample_images
    from sigctl.training.recipes import RECIPES

    torch.set_num_threads(threads)
    settings = load_settings("paper", overrides={"recipe": recipe})
    model = RECIPES[recipe].untrained_model(settings, settings.plan_pyramid(256, 256)).eval()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        sample_images(model, 1, seed, size, size)
        times.append(time.perf_counter() - start)
    queue.put((statistics.median(times), before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    table = Table(title=f"one sample from a 256 px model, CPU, {args.threads} thread(s), median of {args.repeats}")
    for column in ("recipe", "output", "s per sample", "peak RSS, MiB", "of which sampling, MiB"):
        table.add_column(column, justify="right")
    for recipe, size in CASES:
        queue = context.Queue()
        process = context.Process(target=_measure, args=(recipe, size, args.threads, args.repeats, queue))
        process.start()
        seconds, before, peak = queue.get()
        process.join()
        table.add_row(recipe, f"{size}x{size}", f"{seconds:.3f}", f"{peak:.0f}", f"{peak - before:.0f}")
    Console(width=120).print(table)


if __name__ == "__main__":
    main()
