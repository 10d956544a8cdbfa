"""Training time per iteration per stage, recipes side by side.

Runs a few iterations at every stage of each recipe's paper settings (SinGAN: the reference plan,
3 D + 3 G steps; ConSinGAN: 6 stages, 3 concurrent, 3 D + 3 G steps; involution: ConSinGAN's
with dilated involutions and the decoding critic, 500 instead of 2000 iterations per stage) for
max sizes 128 and 250,
on the same image in the same run, and projects a full paper run from the medians. Singan is the
baseline the ratios compare against. Prints a table per recipe and size and one summary, and writes
bench/results/train_speed.json.

    .venv/bin/python bench/train_speed.py [--sizes 128 250] [--recipes singan consingan involution] [--iterations 3] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sigctl.config import SETTINGS_CLASSES, get_path, load_settings, set_path
from sigctl.core.images import load_rgb
from sigctl.core.models.cost import stage_macs
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.training.loop import training_context
from sigctl.training.recipes import RECIPES, make_recipe

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def paper_plan(recipe_name: str, max_size: int, device: torch.device):
    """(settings, layout, reference image) of a paper-preset run of ``recipe_name`` on IMAGE at ``max_size``."""
    settings_class = SETTINGS_CLASSES[recipe_name]
    overrides = set_path({"recipe": recipe_name, "device": device.type}, settings_class.max_size_path, max_size)
    settings = load_settings("paper", overrides=overrides)
    rgb = load_rgb(IMAGE)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    return settings, layout, to_uint8(resize(to_network(rgb), *layout.finest_size))


def time_stages(recipe_name: str, max_size: int, iterations: int, device: torch.device) -> dict:
    settings_class = SETTINGS_CLASSES[recipe_name]
    settings, layout, reference = paper_plan(recipe_name, max_size, device)
    recipe = make_recipe(training_context(settings, reference, layout, device))
    macs = stage_macs(RECIPES[recipe_name].untrained_model(settings, layout))
    rows = []
    for stage in range(layout.num_scales):
        torch.manual_seed(stage)
        recipe.begin_stage(stage)
        recipe.step(0)  # warm-up: allocator and kernel selection
        times = []
        for iteration in range(iterations):
            _sync(device)
            start = time.perf_counter()
            recipe.step(iteration + 1)
            _sync(device)
            times.append(time.perf_counter() - start)
        recipe.end_stage()
        height, width = layout.sizes[stage]
        rows.append({"stage": stage, "height": height, "width": width, "gmac": macs[stage] / 1e9, "median_s": statistics.median(times)})
    per_stage = get_path(settings, settings_class.iterations_path)
    return {"recipe": recipe_name, "max_size": max_size, "iterations_per_stage": per_stage, "stages": rows,
            "projected_minutes": sum(r["median_s"] for r in rows) * per_stage / 60}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 250])
    parser.add_argument("--recipes", nargs="+", default=["singan", "consingan", "involution"], help="recipes to time (the first is the baseline)")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per stage (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default, one per core)")
    args = parser.parse_args()
    if args.threads:
        # On a busy machine two threads can stall each other on small convolutions; one is steadier.
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    console = Console(width=150)
    where = f"{device} ({torch.get_num_threads()} threads)" if device.type == "cpu" else f"{torch.cuda.get_device_name(device)}"
    results = {"device": where, "iterations_timed": args.iterations, "runs": []}
    for max_size in args.sizes:
        timed = [time_stages(name, max_size, args.iterations, device) for name in args.recipes]
        for run in timed:
            table = Table(title=f"{run['recipe']}, max size {max_size}, {where}: s per iteration (3 D + 3 G), median of {args.iterations}")
            for column in ("stage", "size", "GMAC per sample", "s / iteration"):
                table.add_column(column, justify="right")
            for row in run["stages"]:
                table.add_row(str(row["stage"]), f"{row['height']}x{row['width']}", f"{row['gmac']:.2f}", f"{row['median_s']:.4f}")
            table.add_row("all", "", f"{sum(r['gmac'] for r in run['stages']):.1f}", f"{sum(r['median_s'] for r in run['stages']):.3f}")
            console.print(table)
        summary = Table(title=f"max size {max_size}, {where}: recipes side by side (ratio vs {args.recipes[0]})")
        for column in ("recipe", "stages", "finest", "GMAC per sample", "s / iteration, all stages", "iterations per stage",
                       "projected paper run, min", "time ratio"):
            summary.add_column(column, justify="right")
        baseline = timed[0]["projected_minutes"]
        for run in timed:
            finest = run["stages"][-1]
            summary.add_row(
                run["recipe"], str(len(run["stages"])), f"{finest['height']}x{finest['width']}", f"{sum(r['gmac'] for r in run['stages']):.1f}",
                f"{sum(r['median_s'] for r in run['stages']):.3f}", str(run["iterations_per_stage"]), f"{run['projected_minutes']:.1f}",
                f"{run['projected_minutes'] / baseline:.2f}",
            )
        console.print(summary)
        results["runs"].extend(timed)
    out = Path(__file__).resolve().parent / "results" / "train_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
