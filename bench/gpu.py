"""Training and sampling on one device: what a GPU (or, here, a CPU) gives, against its peak.

Per recipe (paper preset, balloons.png):
- training: seconds per iteration at every stage at max size 250 and the projected paper run
  (bench/train_speed.py's ``time_stages``);
- sampling in process (noise made on the device, states kept there): samples/s and p50/p99
  latency per call at 250, 512 and 1024 px output for 1, 8 and 32 samples per call, the FLOPs per
  sample counted on the model (``sigctl.core.models.cost``, 2 FLOPs per multiply-add) and the
  achieved fraction of the device's peak;
- peak memory of training at max size 1024 (``torch.cuda.max_memory_allocated`` on a GPU; the peak
  RSS of a fresh process on a CPU, which includes the interpreter and torch, ~0.3-0.4 GB).

The peak defaults to a measured float32 matmul on a CPU and must be given (``--peak-tflops``) for
a GPU (H100 SXM dense: 67 TFLOPS float32, 495 TF32, 989 bf16). ``--quick`` shrinks everything to
run on a CPU in a few minutes. Writes bench/results/gpu.json (or ``--out``).

    .venv/bin/python bench/gpu.py --quick
    python bench/gpu.py --device cuda --peak-tflops 67
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import resource
import statistics
import sys
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sigctl.core.in_process import sample_images
from sigctl.core.models.cost import stage_macs
from sigctl.core.requests import RequestLimits
from sigctl.training.recipes import RECIPES

sys.path.insert(0, str(Path(__file__).resolve().parent))
from train_speed import VARIANTS, paper_plan, time_stages  # noqa: E402  (a sibling script, not a package)

FULL = {"recipes": ["singan", "consingan", "involution"], "train_size": 250, "sizes": [250, 512, 1024], "counts": [1, 8, 32],
        "repeats": 5, "memory_size": 1024, "iterations": 3}
QUICK = {"recipes": ["singan", "consingan"], "train_size": 64, "sizes": [64, 128], "counts": [1, 4], "repeats": 3, "memory_size": 128,
         "iterations": 1}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, n: int = 2048, repeats: int = 5) -> float:
    """Measured float32 matmul rate: the CPU's practical peak (best of ``repeats``)."""
    a, b = torch.randn(n, n, device=device), torch.randn(n, n, device=device)
    a @ b
    best = float("inf")
    for _ in range(repeats):
        sync(device)
        start = time.perf_counter()
        a @ b
        sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e12


def sampling(recipe: str, train_size: int, sizes: list[int], counts: list[int], repeats: int, chunk_pixels: int, device: torch.device) -> list[dict]:
    """Samples/s and latency of an untrained paper-preset model (the speed does not depend on the weights)."""
    settings, layout, _ = paper_plan(recipe, train_size, device)
    model = RECIPES[recipe].untrained_model(settings, layout).to(device)
    limits = RequestLimits(max_samples=max(counts), max_request_pixels=max(counts) * max(sizes) ** 2, max_chunk_pixels=chunk_pixels)
    rows = []
    for size in sizes:
        flops = 2 * sum(stage_macs(model, size, size))
        for count in counts:
            sample_images(model, count, 0, size, size, limits=limits)  # warm-up: allocator, kernel choice
            latencies = []
            for repeat in range(repeats):
                start = time.perf_counter()
                sample_images(model, count, repeat, size, size, limits=limits)  # returns host pixels: synchronised
                latencies.append(time.perf_counter() - start)
            p50 = statistics.median(latencies)
            # With few repeats the 99th percentile is the slowest call.
            p99 = sorted(latencies)[min(len(latencies) - 1, round(0.99 * (len(latencies) - 1)))]
            rows.append({"recipe": recipe, "size": size, "samples_per_call": count, "p50_s": p50, "p99_s": p99,
                         "samples_per_s": count / p50, "gflop_per_sample": flops / 1e9})
    return rows


def _training_memory(recipe: str, size: int, device_name: str, threads: int, queue) -> None:
    if threads:
        torch.set_num_threads(threads)  # a spawned process does not inherit the parent's setting
    device = torch.device(device_name)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    (timed,) = time_stages(recipe, size, 1, device)
    peak = torch.cuda.max_memory_allocated(device) if device.type == "cuda" else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    queue.put({"recipe": recipe, "max_size": size, "peak_gb": peak / 1e9, "s_per_iteration": sum(r["median_s"] for r in timed["stages"]),
               "finest": f"{timed['stages'][-1]['height']}x{timed['stages'][-1]['width']}"})


def training_memory(recipe: str, size: int, device: torch.device, threads: int) -> dict:
    """Peak memory of one iteration at every stage of a paper-preset run at ``size``, in a fresh process."""
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    process = context.Process(target=_training_memory, args=(recipe, size, str(device), threads, queue))
    process.start()
    process.join()  # the result is a small dict: the child's queue feeder does not block on it
    if process.exitcode != 0:
        raise RuntimeError(f"the {recipe} memory measurement at {size} px failed (exit code {process.exitcode}); its error is above")
    return queue.get(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--quick", action="store_true", help="small sizes, two recipes, few repeats: a few minutes on a CPU")
    parser.add_argument("--recipes", nargs="+", help="recipes (default: all three; --quick: singan consingan)")
    parser.add_argument("--peak-tflops", type=float, help="the device's peak (default on a CPU: a measured float32 matmul)")
    parser.add_argument("--chunk-pixels", type=int, default=RequestLimits().max_chunk_pixels,
                        help="memory budget per batch (max_chunk_pixels); raise it on a large GPU")
    parser.add_argument("--threads", type=int, default=0, help="PyTorch CPU threads (0: its default)")
    parser.add_argument("--skip", nargs="*", default=[], choices=["training", "sampling", "memory"])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results" / "gpu.json")
    args = parser.parse_args()
    plan = dict(QUICK if args.quick else FULL, **({"recipes": args.recipes} if args.recipes else {}))
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if device.type != "cpu" and args.peak_tflops is None:
        parser.error("give the GPU's peak with --peak-tflops (H100 SXM float32: 67)")
    peak = args.peak_tflops or matmul_tflops(device)
    where = f"{device} ({torch.get_num_threads()} threads)" if device.type == "cpu" else torch.cuda.get_device_name(device)
    console = Console(width=160)
    results = {"device": where, "torch": torch.__version__, "peak_tflops": peak, "plan": plan, "chunk_pixels": args.chunk_pixels}

    if "training" not in args.skip:
        # The eager baseline ("before": fp32 as sigctl trained before the speed work) beside each optimisation, interleaved.
        results["training"] = [run for name in plan["recipes"] for run in time_stages(name, plan["train_size"], plan["iterations"], device, VARIANTS)]
        table = Table(title=f"training, paper preset, max size {plan['train_size']}, {where}")
        for column in ("recipe", "variant", "stages", "s / iteration, all stages", "iterations per stage", "projected paper run, min", "speed-up"):
            table.add_column(column, justify="right")
        baseline = {run["recipe"]: run["projected_minutes"] for run in results["training"] if run["variant"] == VARIANTS[0]}
        for run in results["training"]:
            table.add_row(run["recipe"], run["variant"], str(len(run["stages"])), f"{sum(r['median_s'] for r in run['stages']):.3f}",
                          str(run["iterations_per_stage"]), f"{run['projected_minutes']:.1f}", f"{baseline[run['recipe']] / run['projected_minutes']:.2f}x")
        console.print(table)

    if "sampling" not in args.skip:
        results["sampling"] = [row for name in plan["recipes"] for row in
                               sampling(name, plan["train_size"], plan["sizes"], plan["counts"], plan["repeats"], args.chunk_pixels, device)]
        table = Table(title=f"sampling in process, {where}, peak {peak:.2f} TFLOPS, batch budget {args.chunk_pixels} px, {plan['repeats']} calls each")
        for column in ("recipe", "output px", "samples / call", "p50 s", "p99 s", "samples / s", "GFLOP / sample", "% of peak"):
            table.add_column(column, justify="right")
        for row in results["sampling"]:
            row["fraction_of_peak"] = row["samples_per_s"] * row["gflop_per_sample"] / 1e3 / peak
            table.add_row(row["recipe"], str(row["size"]), str(row["samples_per_call"]), f"{row['p50_s']:.4f}", f"{row['p99_s']:.4f}",
                          f"{row['samples_per_s']:.2f}", f"{row['gflop_per_sample']:.1f}", f"{100 * row['fraction_of_peak']:.1f}")
        console.print(table)

    if "memory" not in args.skip:
        results["memory"] = [training_memory(name, plan["memory_size"], device, args.threads) for name in plan["recipes"]]
        kind = "max_memory_allocated" if device.type == "cuda" else "peak RSS of a fresh process"
        table = Table(title=f"training memory, paper preset, max size {plan['memory_size']}, one iteration per stage, {where}")
        for column in ("recipe", "finest", f"peak GB ({kind})", "s / iteration, all stages"):
            table.add_column(column, justify="right")
        for row in results["memory"]:
            table.add_row(row["recipe"], row["finest"], f"{row['peak_gb']:.2f}", f"{row['s_per_iteration']:.2f}")
        console.print(table)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
