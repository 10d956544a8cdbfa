"""The involution recipe's open choices, measured: each variant beside the defaults, on bundled images.

Seed 004 leaves the operator's padding and whether head and tail are involutions open, and reports
that dilation trades SIFID against copying (d = 1..5: 0.119 .. 0.034, larger copies more). This
trains each variant at bench/quality.py's budget (the quick preset at 64 px: 5 stages, 32
channels, 120 iterations per stage, one PyTorch thread), scores it with the code of `sigctl eval`
(patch SWD, SIFID-style, pixel diversity, copy share), and prints one table with the mean of
each variant and its ratio to the defaults. ConSinGAN at the same budget is the plain-convolution
baseline (the paper's "Baseline"); ``no-decoders`` is the involution without the critic's decoders;
``block-*`` variants use ConSinGAN's once-per-block padding instead of the default per-layer one.

``--budget cpu500`` runs the same at 500 iterations per stage. Runs are shared with bench/quality.py
(bench/results/quality-BUDGET/runs/), reused when finished and resumed when interrupted; the table
is also written as bench/results/quality-BUDGET/involution.json.

    .venv/bin/python bench/involution.py [--budget cpu|cpu500] [--variants d1 d5] [--images balloons mountains3] [--num N]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from rich.console import Console

import quality

# name -> (recipe, setting changes). "involution" is the defaults (dilation 3, layer padding,
# plain-conv head and tail, beta 5); "block-*" are variants on ConSinGAN's block padding (the first
# default, measured against); "consingan" is the same schedule with plain 3x3 convs.
VARIANTS: dict[str, tuple[str, dict]] = {
    "involution": ("involution", {}),
    "d1": ("involution", {"network.dilation": 1}),
    "d5": ("involution", {"network.dilation": 5}),
    "head-tail": ("involution", {"network.involution_head_tail": True}),
    "no-decoders": ("involution", {"loss.decoder_weight": 0.0}),
    "block-padding": ("involution", {"network.padding": "block"}),
    "block-d1": ("involution", {"network.padding": "block", "network.dilation": 1}),
    "block-d5": ("involution", {"network.padding": "block", "network.dilation": 5}),
    "block-head-tail": ("involution", {"network.padding": "block", "network.involution_head_tail": True}),
    "block-no-decoders": ("involution", {"network.padding": "block", "loss.decoder_weight": 0.0}),
    "consingan": ("consingan", {}),
}
IMAGES = ["balloons", "mountains3"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=["cpu", "cpu500"], default="cpu", help="bench/quality.py's budget")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--images", nargs="+", default=IMAGES)
    parser.add_argument("--num", type=int, default=None, help="samples scored per model [default: the budget's]")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads; 0: PyTorch's default")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    budget = quality.BUDGETS[args.budget]
    if args.num is not None:
        budget = quality.Budget(budget.preset, budget.max_size, args.num, budget.device, budget.iterations)
    console = Console(width=max(Console().width, 132))
    folder = quality.RESULTS / f"quality-{args.budget}"
    started = time.perf_counter()
    rows = []
    for name in args.variants:
        recipe, changes = VARIANTS[name]
        rows += [quality.recipe_row(recipe, image, budget, folder, console, label=name, changes=changes) for image in args.images]
    mean_rows = quality.means(rows)
    ratio_rows = quality.ratios(mean_rows, reference="involution")
    title = (
        f"involution variants at the {args.budget} budget: {budget.preset} preset{quality._iterations(budget)}, {budget.max_size} px, {budget.num_samples} samples per model, "
        f"{torch.get_num_threads()} thread(s) ({time.perf_counter() - started:.0f} s)"
    )
    quality.print_table(console, title, rows, mean_rows, ratio_rows, reference="involution")
    console.print("Lower SWD and SIFID: closer patch statistics; read them beside diversity and copy share (a lower distance "
                  "bought with less diversity or more copying is memorisation).")
    out = folder / "involution.json"
    changes = {name: VARIANTS[name][1] for name in args.variants}
    out.write_text(json.dumps({"settings": vars(budget), "variants": changes, "rows": rows, "means": mean_rows, "ratios_to_involution": ratio_rows}, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    main()
