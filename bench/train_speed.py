"""Per-iteration training time per scale of the singan recipe.

Runs a few iterations at every scale of the pyramid for max sizes 128 and 250 (the paper's),
with the paper's 3 D + 3 G steps and, as the in-run baseline, seed 003's 3 D + 1 G steps.
Prints a table and writes bench/results/train_speed.json.

    .venv/bin/python bench/train_speed.py [--sizes 128 250] [--iterations 3] [--device cpu]
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

from sigctl.config import load_settings
from sigctl.core.images import load_rgb
from sigctl.core.pixels import resize, to_network
from sigctl.core.pyramid import Pyramid
from sigctl.core.scales import fit_to_max_size
from sigctl.training.recipes import TrainingContext, make_recipe

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"


def time_scales(max_size: int, generator_steps: int, iterations: int, device: torch.device) -> list[dict]:
    settings = load_settings("paper", overrides={"pyramid": {"max_size": max_size}, "optimizer": {"generator_steps": generator_steps}})
    rgb = load_rgb(IMAGE)
    height, width = fit_to_max_size(*rgb.shape[:2], max_size)
    layout = settings.plan_pyramid(height, width)
    image = to_network(rgb)
    reals = [torch.from_numpy(resize(image, h, w))[None].to(device) for h, w in layout.sizes]
    pyramid = Pyramid(layout, settings.network).to(device)
    recipe = make_recipe(TrainingContext(settings=settings, pyramid=pyramid, reals=reals, device=device))
    rows = []
    for scale in range(layout.num_scales):
        torch.manual_seed(scale)
        recipe.begin_stage(scale)
        recipe.step(0)  # warm-up: allocator and kernel selection
        times = []
        for iteration in range(iterations):
            if device.type == "cuda":
                torch.cuda.synchronize()
            start = time.perf_counter()
            recipe.step(iteration + 1)
            if device.type == "cuda":
                torch.cuda.synchronize()
            times.append(time.perf_counter() - start)
        recipe.end_stage()
        h, w = layout.sizes[scale]
        rows.append({"scale": scale, "height": h, "width": w, "channels": settings.network.channels_at(scale), "median_s": statistics.median(times)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 250])
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per scale (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    console = Console()
    results = {"device": str(device), "torch_threads": torch.get_num_threads(), "iterations_timed": args.iterations, "runs": []}
    for max_size in args.sizes:
        paper = time_scales(max_size, 3, args.iterations, device)
        one_g = time_scales(max_size, 1, args.iterations, device)
        table = Table(title=f"singan, max size {max_size}, {device} ({torch.get_num_threads()} threads): seconds per iteration, median of {args.iterations}")
        for column in ("scale", "size", "channels", "3D+3G (paper)", "3D+1G (seed 003)", "ratio"):
            table.add_column(column, justify="right")
        for a, b in zip(paper, one_g):
            table.add_row(str(a["scale"]), f"{a['height']}x{a['width']}", str(a["channels"]), f"{a['median_s']:.4f}", f"{b['median_s']:.4f}", f"{a['median_s'] / b['median_s']:.2f}")
        total_paper = sum(r["median_s"] for r in paper)
        total_one = sum(r["median_s"] for r in one_g)
        iterations = load_settings("paper").optimizer.iterations_per_scale
        table.add_row("all", "", "", f"{total_paper:.3f}", f"{total_one:.3f}", f"{total_paper / total_one:.2f}")
        console.print(table)
        console.print(
            f"estimated full paper training at {max_size}px ({iterations} it/scale): "
            f"{total_paper * iterations / 60:.1f} min with 3 G steps, {total_one * iterations / 60:.1f} min with 1"
        )
        results["runs"].append({"max_size": max_size, "paper_3d3g": paper, "seed003_3d1g": one_g})
    out = Path(__file__).resolve().parent / "results" / "train_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
