"""Training time per iteration per stage, recipes side by side.

Runs a few iterations at every stage of each recipe's paper settings (SinGAN: the reference plan,
3 D + 3 G steps; ConSinGAN: 6 stages, 3 concurrent, 3 D + 3 G steps; involution: ConSinGAN's
with dilated involutions and the decoding critic, 500 instead of 2000 iterations per stage) for
max sizes 128 and 250,
on the same image in the same run, and projects a full paper run from the medians. Each recipe is
timed in each variant (--variants):

- ``before``: fp32 as sigctl trained before the CPU-speed work (G steps also computed the critic's
  weight gradients, which the next D step discarded): the baseline every ratio compares against;
- ``fp32``: today's default (no critic weight gradients in G steps; the same updates);
- ``bf16``: ``precision: bf16`` (bf16 autocast; only where the CPU has bf16, else it is fp32).

Prints a table per recipe and size and one summary, and writes bench/results/train_speed.json.

    .venv/bin/python bench/train_speed.py [--sizes 128 250] [--recipes singan consingan involution] [--variants before fp32 bf16]
                                          [--iterations 3] [--device cpu|cuda] [--threads N] [--stages 4 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from contextlib import nullcontext
from pathlib import Path
from unittest import mock

import torch
from rich.console import Console
from rich.table import Table

from sigctl.config import SETTINGS_CLASSES, get_path, load_settings, set_path
from sigctl.core.images import load_rgb
from sigctl.core.models.cost import stage_macs
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.core.precision import cpu_has_bf16
from sigctl.training import losses
from sigctl.training.loop import training_context
from sigctl.training.precision import effective_precision, step_precision
from sigctl.training.recipes import RECIPES, make_recipe

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


VARIANTS = ("before", "fp32", "bf16")


def variant_context(variant: str, device: torch.device):
    """What a timed step runs in: the variant's precision, and for ``before`` the critic's weights recorded in G steps."""
    if variant == "before":
        # The old G step: D's parameters kept requires_grad, so G's backward also made D's weight gradients.
        return mock.patch.object(losses, "parameters_frozen", lambda module: nullcontext())
    return step_precision(effective_precision(variant, device), device)


def paper_plan(recipe_name: str, max_size: int, device: torch.device):
    """(settings, layout, reference image) of a paper-preset run of ``recipe_name`` on IMAGE at ``max_size``."""
    settings_class = SETTINGS_CLASSES[recipe_name]
    overrides = set_path({"recipe": recipe_name, "device": device.type}, settings_class.max_size_path, max_size)
    settings = load_settings("paper", overrides=overrides)
    rgb = load_rgb(IMAGE)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    return settings, layout, to_uint8(resize(to_network(rgb), *layout.finest_size))


def time_stages(
    recipe_name: str, max_size: int, iterations: int, device: torch.device, variants: tuple[str, ...] = ("fp32",), only: list[int] | None = None
) -> list[dict]:
    """Per-stage medians of every variant, one run per variant.

    The variants' iterations are interleaved (one of each in turn, on the same recipe), so a change
    in the machine's load hits them alike and their ratios stay fair on a busy machine.
    """
    settings_class = SETTINGS_CLASSES[recipe_name]
    settings, layout, reference = paper_plan(recipe_name, max_size, device)
    recipe = make_recipe(training_context(settings, reference, layout, device))
    macs = stage_macs(RECIPES[recipe_name].untrained_model(settings, layout))
    rows: dict[str, list[dict]] = {variant: [] for variant in variants}
    for stage in range(recipe.num_stages()):  # PetsGAN: its three phases (the size column is the model stage's)
        torch.manual_seed(stage)
        recipe.begin_stage(stage)
        if only is not None and stage not in only:  # stages not timed are still built: later ones grow from them
            recipe.end_stage()
            continue
        times: dict[str, list[float]] = {variant: [] for variant in variants}
        for iteration in range(iterations + 1):  # the first round is a warm-up: allocator and kernel selection
            for variant in variants:
                with variant_context(variant, device):
                    _sync(device)
                    start = time.perf_counter()
                    recipe.step(iteration)
                    _sync(device)
                if iteration:
                    times[variant].append(time.perf_counter() - start)
        recipe.end_stage()
        height, width = layout.sizes[stage]
        for variant in variants:
            rows[variant].append({"stage": stage, "height": height, "width": width, "gmac": macs[stage] / 1e9, "median_s": statistics.median(times[variant])})
    per_stage = get_path(settings, settings_class.iterations_path)
    return [{"recipe": recipe_name, "variant": variant, "max_size": max_size, "iterations_per_stage": per_stage, "stages": rows[variant],
             "projected_minutes": sum(r["median_s"] for r in rows[variant]) * per_stage / 60} for variant in variants]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 250])
    parser.add_argument("--recipes", nargs="+", default=["singan", "consingan", "involution", "petsgan"], help="recipes to time (the first is the baseline)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS, help="the first is the baseline of the ratios")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per stage (after one warm-up)")
    parser.add_argument("--stages", type=int, nargs="+", help="time only these stages (the projection then covers only them)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default, one per core)")
    args = parser.parse_args()
    if args.threads:
        # On a busy machine two threads can stall each other on small convolutions; one is steadier.
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    console = Console(width=160)
    where = f"{device} ({torch.get_num_threads()} threads)" if device.type == "cpu" else f"{torch.cuda.get_device_name(device)}"
    console.print(f"{where}; CPU bf16 instructions: {'yes' if cpu_has_bf16() else 'no (bf16 rows run in fp32)'}")
    results = {"device": where, "cpu_bf16": cpu_has_bf16(), "iterations_timed": args.iterations, "runs": []}
    for max_size in args.sizes:
        timed = [run for name in args.recipes for run in time_stages(name, max_size, args.iterations, device, args.variants, args.stages)]
        baseline_of = {run["recipe"]: run for run in timed if run["variant"] == args.variants[0]}
        for recipe in args.recipes:
            runs = [run for run in timed if run["recipe"] == recipe]
            table = Table(title=f"{recipe}, max size {max_size}, {where}: s per iteration (3 D + 3 G), median of {args.iterations}; ratio vs {args.variants[0]}")
            for column in ("stage", "size", "GMAC per sample", *(f"{run['variant']} s" for run in runs), *(f"{run['variant']} ratio" for run in runs[1:])):
                table.add_column(column, justify="right")
            for index, row in enumerate(runs[0]["stages"]):
                seconds = [run["stages"][index]["median_s"] for run in runs]
                table.add_row(str(row["stage"]), f"{row['height']}x{row['width']}", f"{row['gmac']:.2f}", *(f"{t:.4f}" for t in seconds),
                              *(f"{seconds[0] / t:.2f}x" for t in seconds[1:]))
            console.print(table)
        summary = Table(title=f"max size {max_size}, {where}: projected paper run (speed-up vs each recipe's {args.variants[0]}; time vs {args.recipes[0]} {args.variants[0]})")
        for column in ("recipe", "variant", "stages timed", "finest", "s / iteration, timed stages", "iterations per stage",
                       "projected minutes", "speed-up", f"time vs {args.recipes[0]}"):
            summary.add_column(column, justify="right")
        overall = baseline_of[args.recipes[0]]["projected_minutes"]
        for run in timed:
            finest = run["stages"][-1]
            summary.add_row(
                run["recipe"], run["variant"], str(len(run["stages"])), f"{finest['height']}x{finest['width']}",
                f"{sum(r['median_s'] for r in run['stages']):.3f}", str(run["iterations_per_stage"]), f"{run['projected_minutes']:.1f}",
                f"{baseline_of[run['recipe']]['projected_minutes'] / run['projected_minutes']:.2f}x", f"{run['projected_minutes'] / overall:.2f}",
            )
        console.print(summary)
        results["runs"].extend(timed)
    out = Path(__file__).resolve().parent / "results" / "train_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
