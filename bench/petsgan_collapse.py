"""PetsGAN's collapse penalty: quality and diversity with `loss.collapse_penalty_weight` at each
given weight (default 0 and the code's 1), trained and scored in the same run of this script.

Each variant is bench/quality.py's row (the same budget, training and `sigctl eval` scores), under
bench/results/petsgan-collapse-BUDGET/ (finished runs are reused, interrupted ones resumed).

    .venv/bin/python bench/petsgan_collapse.py [--budget cpu] [--images balloons] [--weights 0 1] [--iterations N] [--max-size PX] [--threads 1]
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch
from rich.console import Console

from quality import BUDGETS, RESULTS, TRAIN_IMAGES, means, print_table, recipe_row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--images", nargs="+", default=["balloons"], choices=sorted(p.stem for p in TRAIN_IMAGES.glob("*.png")))
    parser.add_argument("--weights", nargs="+", type=float, default=[0.0, 1.0], help="collapse penalty weights; the first is the baseline")
    parser.add_argument("--iterations", type=int, default=None, help="iterations per phase [default: the budget's preset]")
    parser.add_argument("--max-size", type=int, default=None, help="training size, px [default: the budget's; the quick preset's own is 128]")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads; 0: PyTorch's default")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)  # as bench/quality.py: one thread is faster on 2 busy cores
    budget = BUDGETS[args.budget] if args.iterations is None else replace(BUDGETS[args.budget], iterations=args.iterations)
    budget = budget if args.max_size is None else replace(budget, max_size=args.max_size)
    if budget.device == "cuda" and not torch.cuda.is_available():
        parser.error("this budget trains on a CUDA GPU and PyTorch sees none; use --budget cpu")
    suffix = ("" if args.iterations is None else f"-{args.iterations}") + ("" if args.max_size is None else f"-{args.max_size}px")
    folder = RESULTS / f"petsgan-collapse-{args.budget}{suffix}"
    console = Console(width=max(Console().width, 132))
    started = time.perf_counter()
    rows = [
        recipe_row("petsgan", image, budget, folder, console, f"collapse-{weight:g}", {"loss.collapse_penalty_weight": weight})
        for weight in args.weights for image in args.images
    ]
    mean_rows = means(rows)
    baseline = f"collapse-{args.weights[0]:g}"
    ratio_rows = {
        label: {key: None if values[key] is None or not mean_rows[baseline][key] else values[key] / mean_rows[baseline][key] for key in values}
        for label, values in mean_rows.items() if label != baseline
    }
    title = (
        f"PetsGAN collapse penalty at the {args.budget} budget: {budget.preset} preset, {budget.max_size} px, "
        f"{budget.iterations or 'preset'} iterations per phase, {budget.num_samples} samples, {torch.get_num_threads()} thread(s) "
        f"({time.perf_counter() - started:.0f} s)"
    )
    print_table(console, title, rows, mean_rows, ratio_rows, reference=baseline)


if __name__ == "__main__":
    main()
