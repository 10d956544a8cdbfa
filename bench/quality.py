"""Quality, diversity and time of every recipe, beside a training-free baseline, on bundled images.

Trains each recipe in RECIPES on each image at one budget, scores every model with the code of
`sigctl eval` (patch SWD, SIFID-style, pixel diversity, copy share over --num samples at the
training size), does the same for GPNN-style nearest-neighbour synthesis (bench/gpnn.py, no
training), and prints one table, the mean per recipe, and each recipe's ratio to singan.

Budgets (one per run of the script, stated in the table's title):
- ``cpu`` (default): the quick preset at 64 px (120 iterations per scale, 1 G step), 20 samples,
  GPNN with the paper's 10 EM passes per level, one PyTorch thread (``--threads``). About 5
  minutes on 2 busy CPU cores.
- ``cpu500``: the same at 500 iterations per stage or scale (seed 004's count; about 4x as long).
- ``cpu128``: the quick preset at 128 px (PetsGAN's generator then works at 16 px, not 8).
- ``paper``: the paper preset at 250 px (2000 iterations per scale, 3 D + 3 G steps), 50 samples,
  on a CUDA GPU (SinGAN: about an hour per image on a laptop GPU).

Runs go to bench/results/quality-BUDGET/ and are reused when finished (an interrupted one is
resumed), so the table can be printed again in seconds; the table is also written as JSON there.

``--precisions fp32 bf16`` also trains every recipe with ``precision: bf16`` (rows ``RECIPE-bf16``),
to compare what bf16 training changes in quality.

    .venv/bin/python bench/quality.py [--budget cpu|cpu500|paper] [--images balloons stone] [--recipes singan] [--num N]
                                      [--precisions fp32 bf16]
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

import gpnn
from sigctl.config import SETTINGS_CLASSES, load_settings, set_path
from sigctl.core.images import save_png
from sigctl.evaluation.folders import evaluate_folder
from sigctl.evaluation.html_report import write_html_report
from sigctl.evaluation.runs import evaluate_run
from sigctl.training import loop

ROOT = Path(__file__).resolve().parents[1]
TRAIN_IMAGES = ROOT / "examples" / "images" / "train"
RESULTS = ROOT / "bench" / "results"
RECIPES = ["singan", "consingan", "involution", "petsgan"]
BASELINE = "gpnn"  # bench/gpnn.py: no training
IMAGES = ["balloons", "mountains3", "stone", "chelsea"]  # objects on sky, a landscape, a texture, an object-centred image (a cat)
METRICS = ("swd_mean", "sifid_64", "sifid_192", "pixel_diversity", "copy_share", "training_seconds", "sample_seconds")


@dataclass(frozen=True)
class Budget:
    preset: str
    max_size: int
    num_samples: int
    device: str
    iterations: int | None = None  # per stage or scale, over the preset's


BUDGETS = {
    "cpu": Budget(preset="quick", max_size=64, num_samples=20, device="cpu"),
    # The quick preset at seed 004's 500 iterations per stage: where the ConSinGAN family learns.
    "cpu500": Budget(preset="quick", max_size=64, num_samples=20, device="cpu", iterations=500),
    # The quick preset at 128 px: PetsGAN's generator then works at 16 px (at 64 px, 8 px: too small to learn).
    "cpu128": Budget(preset="quick", max_size=128, num_samples=20, device="cpu"),
    "paper": Budget(preset="paper", max_size=250, num_samples=50, device="cuda"),
}


def settings_for(recipe: str, budget: Budget, changes: dict | None = None):
    # Every recipe at the same preset name and max size; max size is a differently named setting per recipe.
    overrides = set_path({"recipe": recipe, "device": budget.device}, SETTINGS_CLASSES[recipe].max_size_path, budget.max_size)
    if budget.iterations is not None:
        overrides = set_path(overrides, SETTINGS_CLASSES[recipe].iterations_path, budget.iterations)
    for path, value in (changes or {}).items():
        overrides = set_path(overrides, tuple(path.split(".")), value)
    return load_settings(budget.preset, overrides=overrides)


def recipe_row(recipe: str, image: str, budget: Budget, folder: Path, console: Console, label: str | None = None, changes: dict | None = None) -> dict:
    """Train (or reuse, or resume) ``recipe`` on ``image`` and score it; ``label`` names a variant
    of the recipe whose settings differ by ``changes`` ({"network.dilation": 1, ...})."""
    label = label or recipe
    run = folder / "runs" / f"{label}-{image}"
    if not (run / "manifest.json").exists():
        console.print(f"training {label} on {image} ({budget.preset}, {budget.max_size} px) ...")
        if (run / "checkpoints").exists():
            loop.resume(run)
        else:
            loop.train(TRAIN_IMAGES / f"{image}.png", run, settings_for(recipe, budget, changes))
    evaluation = evaluate_run(run, num=budget.num_samples)
    write_html_report(folder / "reports" / f"{label}-{image}.html", evaluation)
    manifest = json.loads((run / "manifest.json").read_text())
    sample_seconds = evaluation.record["sampling_seconds"] / budget.num_samples
    return row(label, image, evaluation.scores.summary(), manifest["training_seconds"], sample_seconds)


def baseline_row(image: str, budget: Budget, folder: Path, console: Console) -> dict:
    # The very image a recipe trains on at this budget (fitted to max_size), as the real image.
    reference, _ = loop.prepare_reference(TRAIN_IMAGES / f"{image}.png", settings_for("singan", budget))
    samples_folder = folder / "gpnn" / image
    samples_folder.mkdir(parents=True, exist_ok=True)
    save_png(folder / "gpnn" / f"{image}-reference.png", reference)
    console.print(f"generating {budget.num_samples} GPNN samples of {image} ...")
    device = budget.device if budget.device != "cuda" or torch.cuda.is_available() else "cpu"
    started = time.perf_counter()
    images = gpnn.generate(reference, budget.num_samples, device=device)
    seconds = time.perf_counter() - started
    for index, sample in enumerate(images):
        save_png(samples_folder / f"{index:03d}.png", sample)
    evaluation = evaluate_folder(folder / "gpnn" / f"{image}-reference.png", samples_folder)
    write_html_report(folder / "reports" / f"gpnn-{image}.html", evaluation)
    return row(BASELINE, image, evaluation.scores.summary(), 0.0, seconds / budget.num_samples)


def row(recipe: str, image: str, scores: dict, training_seconds: float, sample_seconds: float) -> dict:
    values = {key: scores.get(key) for key in METRICS[:5]}
    return {"recipe": recipe, "image": image, **values, "training_seconds": training_seconds, "sample_seconds": sample_seconds}


def means(rows: list[dict]) -> dict[str, dict]:
    """Mean of every metric per recipe (None when any image has none)."""
    result = {}
    for recipe in dict.fromkeys(r["recipe"] for r in rows):
        mine = [r for r in rows if r["recipe"] == recipe]
        result[recipe] = {key: None if any(r[key] is None for r in mine) else sum(r[key] for r in mine) / len(mine) for key in METRICS}
    return result


def ratios(mean_rows: dict[str, dict], reference: str = "singan") -> dict[str, dict]:
    base = mean_rows.get(reference)
    if base is None:
        return {}
    return {
        recipe: {key: None if values[key] is None or not base[key] else values[key] / base[key] for key in METRICS}
        for recipe, values in mean_rows.items()
        if recipe != reference
    }


def _iterations(budget: Budget) -> str:
    return "" if budget.iterations is None else f" at {budget.iterations} iterations per stage"


def print_table(console: Console, title: str, rows: list[dict], mean_rows: dict, ratio_rows: dict, reference: str = "singan") -> None:
    table = Table(title=title)
    for column in ("recipe", "image", "SWD mean", "SIFID 64", "SIFID 192", "diversity", "copy share", "train s", "s/sample"):
        table.add_column(column, justify="left" if column in ("recipe", "image") else "right")

    def cells(values: dict, digits=(3, 3, 2, 3, 3, 0, 2)) -> list[str]:
        return ["n/a" if values[key] is None else f"{values[key]:.{d}f}" for key, d in zip(METRICS, digits)]

    for r in rows:
        table.add_row(r["recipe"], r["image"], *cells(r))
    for recipe, values in mean_rows.items():
        table.add_row(f"[bold]{recipe}[/]", "[bold]mean[/]", *cells(values), end_section=recipe == list(mean_rows)[-1])
    for recipe, values in ratio_rows.items():
        table.add_row(recipe, f"/ {reference}", *["n/a" if values[key] is None else f"{values[key]:.2f}x" for key in METRICS])
    console.print(table)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", choices=sorted(BUDGETS), default="cpu")
    parser.add_argument("--images", nargs="+", default=IMAGES, choices=sorted(p.stem for p in TRAIN_IMAGES.glob("*.png")))
    parser.add_argument("--recipes", nargs="+", default=RECIPES)
    parser.add_argument("--num", type=int, default=None, help="samples scored per model [default: the budget's]")
    parser.add_argument("--no-baseline", action="store_true", help="skip the GPNN-style baseline")
    parser.add_argument("--precisions", nargs="+", default=["fp32"], choices=["fp32", "bf16"], help="training precisions (bf16 rows: RECIPE-bf16)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch CPU threads; 0: PyTorch's default (one per core)")
    args = parser.parse_args()
    if args.threads > 0:
        # On 2 cores shared with other work, OpenMP's hand-offs between threads stall small
        # convolutions: quick-preset training measured 24 s with 1 thread against 156 s with 2.
        torch.set_num_threads(args.threads)
    budget = BUDGETS[args.budget]
    if args.num is not None:
        budget = Budget(budget.preset, budget.max_size, args.num, budget.device, budget.iterations)
    if budget.device == "cuda" and not torch.cuda.is_available():
        parser.error("the paper budget trains on a CUDA GPU and PyTorch sees none; use --budget cpu")
    console = Console(width=max(Console().width, 132))  # the table's nine columns, also when piped
    folder = RESULTS / f"quality-{args.budget}"
    started = time.perf_counter()
    rows = [
        recipe_row(recipe, image, budget, folder, console, *(() if precision == "fp32" else (f"{recipe}-{precision}", {"precision": precision})))
        for recipe in args.recipes for precision in args.precisions for image in args.images
    ]
    if not args.no_baseline:
        rows += [baseline_row(image, budget, folder, console) for image in args.images]
    mean_rows = means(rows)
    ratio_rows = ratios(mean_rows)
    title = (
        f"quality at the {args.budget} budget: {budget.preset} preset{_iterations(budget)}, {budget.max_size} px, {budget.num_samples} samples per model, "
        f"{budget.device}, {torch.get_num_threads()} thread(s) ({time.perf_counter() - started:.0f} s)"
    )
    print_table(console, title, rows, mean_rows, ratio_rows)
    console.print("Lower SWD and SIFID: closer patch statistics. Read them beside diversity and copy share: a lower distance "
                  "bought with less diversity or more copying is memorisation. Training seconds are the recipe's own; gpnn (bench/gpnn.py) trains nothing.")
    out = folder / "quality.json"
    out.write_text(json.dumps({"budget": args.budget, "settings": vars(budget), "rows": rows, "means": mean_rows, "ratios_to_singan": ratio_rows}, indent=2) + "\n")
    console.print(f"wrote {out} and HTML reports in {folder / 'reports'}")


if __name__ == "__main__":
    main()
