"""Per-iteration training time per scale of the singan recipe.

Runs a few iterations at every scale of the pyramid for max sizes 128 and 250 (the paper's) with
the paper's 3 D + 3 G steps, for each pyramid plan: the reference code's (the default) and, as
the in-run baseline, sigctl 0.1's closest-factor plan. Prints a table per size and writes
bench/results/train_speed.json.

    .venv/bin/python bench/train_speed.py [--sizes 128 250] [--plans reference closest_factor] [--iterations 3] [--device cpu]
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
from sigctl.core.generator import generator_macs
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.training.loop import training_context
from sigctl.training.recipes import make_recipe

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"


def time_scales(max_size: int, plan: str, iterations: int, device: torch.device) -> list[dict]:
    settings = load_settings("paper", overrides={"pyramid": {"max_size": max_size, "plan": plan}})
    rgb = load_rgb(IMAGE)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    reference = to_uint8(resize(to_network(rgb), *layout.finest_size))
    recipe = make_recipe(training_context(settings, reference, layout, device))
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
        channels = settings.network.channels_at(scale)
        macs = generator_macs(channels, settings.network, h, w)
        rows.append({"scale": scale, "height": h, "width": w, "channels": channels, "gmac": macs / 1e9, "median_s": statistics.median(times)})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 250])
    parser.add_argument("--plans", nargs="+", default=["reference", "closest_factor"], help="pyramid plans (the first is the subject, the others baselines)")
    parser.add_argument("--iterations", type=int, default=3, help="timed iterations per scale (after one warm-up)")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    console = Console(width=150)
    iterations_per_scale = load_settings("paper").optimizer.iterations_per_scale
    results = {"device": str(device), "torch_threads": torch.get_num_threads(), "iterations_timed": args.iterations, "runs": []}
    for max_size in args.sizes:
        timed = {plan: time_scales(max_size, plan, args.iterations, device) for plan in args.plans}
        for plan, rows in timed.items():
            table = Table(title=f"singan, {plan} plan, max size {max_size}, {device} ({torch.get_num_threads()} threads): s per iteration (3 D + 3 G), median of {args.iterations}")
            for column in ("scale", "size", "channels", "GMAC per G pass", "s / iteration"):
                table.add_column(column, justify="right")
            for row in rows:
                table.add_row(str(row["scale"]), f"{row['height']}x{row['width']}", str(row["channels"]), f"{row['gmac']:.2f}", f"{row['median_s']:.4f}")
            table.add_row("all", "", "", f"{sum(r['gmac'] for r in rows):.1f}", f"{sum(r['median_s'] for r in rows):.3f}")
            console.print(table)
        summary = Table(title=f"max size {max_size}: the plans side by side (ratio vs {args.plans[0]})")
        for column in ("plan", "scales", "finest", "GMAC per sample", "s / iteration, all scales", "full paper run, min", "time ratio"):
            summary.add_column(column, justify="right")
        subject = sum(r["median_s"] for r in timed[args.plans[0]])
        for plan, rows in timed.items():
            total = sum(r["median_s"] for r in rows)
            finest = rows[-1]
            summary.add_row(
                plan, str(len(rows)), f"{finest['height']}x{finest['width']}x{finest['channels']}", f"{sum(r['gmac'] for r in rows):.1f}",
                f"{total:.3f}", f"{total * iterations_per_scale / 60:.1f}", f"{total / subject:.2f}",
            )
        console.print(summary)
        results["runs"].append({"max_size": max_size, "plans": timed})
    out = Path(__file__).resolve().parent / "results" / "train_speed.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
