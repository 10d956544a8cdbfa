"""Time and peak memory of one PetsGAN sample at 256, 512 and 1024 px, as a larger scene and through
the learned upsampler (SinGAN at 256 px beside them), and the upsampler phase's training speed.

Each measurement runs in a fresh process, so its peak resident memory (ru_maxrss) is its own; the
model is the paper preset's, untrained (time and memory do not depend on the weights), for a 256 px
training image. Two ways to a 1024 px sample:

- *larger scene* (HEIGHT/WIDTH 1024): the generator at 128 px, the patch transfer against the
  2 x 26 x 26 reference patches, the 8x restoration to 1024 px;
- *upsampler* (UPSCALE 4): the 256 px sample (generator at 32 px), then the learned x2 upsampler
  twice (256 -> 512 -> 1024), as the paper's 1024 px synthesis from a 256 px model.

The last table times the fourth training phase (the upsampler's L1 steps on random crops of a
1024 px target image and its halvings) at the paper preset, s per iteration, beside the joint
phase's iterations on the same machine for scale.

    .venv/bin/python bench/petsgan_highres.py [--threads 1] [--repeats 3] [--iterations 5]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import statistics
import time

from rich.console import Console
from rich.table import Table

# (recipe, output side, upscale): upscale 1 at 512/1024 is the larger scene.
CASES = [("singan", 256, 1), ("petsgan", 256, 1), ("petsgan", 512, 1), ("petsgan", 1024, 1), ("petsgan", 512, 2), ("petsgan", 1024, 4)]
PHASES = ("joint", "upsampler")


def _model(recipe: str):
    from sigctl.config import load_settings
    from sigctl.training.recipes import RECIPES

    settings = load_settings("paper", overrides={"recipe": recipe})
    return RECIPES[recipe].untrained_model(settings, settings.plan_pyramid(256, 256)).eval()


def _measure_sample(recipe: str, size: int, upscale: int, threads: int, repeats: int, queue) -> None:
    import torch

    from sigctl.core.in_process import TorchExecutor
    from sigctl.core.operations import Request, execute

    torch.set_num_threads(threads)
    executor = TorchExecutor(_model(recipe))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for seed in range(repeats):
        start = time.perf_counter()
        execute(executor, Request("sample", seed, 1, size, size, upscale=upscale))
        times.append(time.perf_counter() - start)
    queue.put((statistics.median(times), before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _measure_phase(phase: str, threads: int, iterations: int, queue) -> None:
    """s per iteration of one paper-preset phase on a 256 px image whose source is 1024 px."""
    import numpy as np
    import torch

    from sigctl.config import load_settings
    from sigctl.training.loop import training_context
    from sigctl.training.recipes import make_recipe
    from sigctl.training.recipes.petsgan import PHASES as ORDER

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    settings = load_settings("paper", overrides={"recipe": "petsgan"})
    rng = np.random.default_rng(0)  # pixels do not change the time; a 1024 px source gives the upsampler 3 target levels
    source = rng.integers(0, 256, (1024, 1024, 3), dtype=np.uint8)
    reference = source[::4, ::4].copy()
    layout = settings.plan_pyramid(1024, 1024)
    recipe = make_recipe(training_context(settings, reference, layout, torch.device("cpu"), source))
    recipe.begin_stage(0)  # as in a run: the generator phase first (its prior data built and dropped), then the measured phase
    recipe.end_stage()
    recipe.begin_stage(ORDER.index(phase))
    recipe.step(0)  # warm-up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    for iteration in range(1, iterations + 1):
        recipe.step(iteration)
    seconds = (time.perf_counter() - start) / iterations
    queue.put((seconds, before / 1024, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def _in_fresh_process(target, *args):
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--iterations", type=int, default=5, help="timed iterations per training phase (after one warm-up)")
    args = parser.parse_args()
    console = Console(width=140)
    table = Table(title=f"one sample from a 256 px model, CPU, {args.threads} thread(s), median of {args.repeats}")
    for column in ("recipe", "output", "how", "s per sample", "peak RSS, MiB", "of which sampling, MiB"):
        table.add_column(column, justify="right")
    for recipe, size, upscale in CASES:
        seconds, before, peak = _in_fresh_process(_measure_sample, recipe, size, upscale, args.threads, args.repeats)
        how = f"upsampler x{upscale} of {size // upscale} px" if upscale > 1 else ("training size" if size == 256 else "larger scene")
        table.add_row(recipe, f"{size}x{size}", how, f"{seconds:.3f}", f"{peak:.0f}", f"{peak - before:.0f}")
    console.print(table)
    phases = Table(title=f"PetsGAN training at the paper preset (256 px image, 1024 px source), CPU, {args.threads} thread(s), mean of {args.iterations}")
    for column in ("phase", "s per iteration", "peak RSS, MiB", "of which the steps, MiB"):
        phases.add_column(column, justify="right")
    for phase in PHASES:
        seconds, before, peak = _in_fresh_process(_measure_phase, phase, args.threads, args.iterations)
        phases.add_row(phase, f"{seconds:.3f}", f"{peak:.0f}", f"{peak - before:.0f}")
    console.print(phases)


if __name__ == "__main__":
    main()
