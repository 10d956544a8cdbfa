"""Samples/s and latency of one pyramid: eager PyTorch, onnxruntime and bf16 in process, Triton over gRPC.

By default the pyramids have the paper's architecture for balloons.png at 250 px with untrained
weights (speed depends on the architecture, not the weights), once per pyramid plan: the
reference code's (9 scales, 128 channels at the finest) and sigctl 0.1's closest-factor plan
(8 scales, 64 channels), so the cost of the faithful pyramid is measured in the same run.
--run benches a trained artifact instead. Each pyramid is exported twice: fp32 ONNX (the default
served path) and a bf16 version (`sigctl export --precision bf16`: TorchScript under bf16 autocast),
and both are timed in process and through Triton. One image per request, square sizes. Prints one
table with ratios against eager PyTorch (fp32, the baseline) and against the first plan, whether the
CPU has bf16/AMX, and writes bench/results/serve_throughput.json.

    .venv/bin/python bench/serve_throughput.py [--sizes 128 250 512] [--plans reference closest_factor] [--run runs/NAME] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from sigctl import artifact
from sigctl.artifact import files
from sigctl.artifact.manifest import ImageInfo
from sigctl.client import SigClient
from sigctl.config import load_settings
from sigctl.core.images import load_rgb, save_png
from sigctl.core.in_process import sample_images
from sigctl.core.models.singan import SinGANModel
from sigctl.core.precision import cpu_has_bf16
from sigctl.core.pixels import resize, to_network, to_uint8
from sigctl.export.exporter import export_artifact
from sigctl.serving.runtime import ModelRuntime
from sigctl.serving.server import ServerSettings, TritonServer

IMAGE = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"
REQUESTS = {128: 24, 250: 12, 512: 4}  # sequential requests per size; concurrent runs send max(this, 2 x concurrency)


def paper_architecture_run(folder: Path, plan: str) -> Path:
    settings = load_settings("paper", overrides={"pyramid": {"plan": plan}})
    rgb = load_rgb(IMAGE)
    layout = settings.plan_pyramid(*rgb.shape[:2])
    height, width = layout.finest_size
    torch.manual_seed(0)
    pyramid = SinGANModel.with_scales(layout, settings.network, [1.0] + [0.1] * (layout.num_scales - 1))
    pyramid.reconstruction_noise.normal_()
    save_png(folder / files.REFERENCE, to_uint8(resize(to_network(rgb), height, width)))
    image = ImageInfo(
        source_name=IMAGE.name, source_sha256=files.sha256_of(IMAGE), source_height=rgb.shape[0], source_width=rgb.shape[1], height=height, width=width
    )
    artifact.save(folder, pyramid, settings, image, training_seconds=0.0, device="cpu")
    return folder


def measure(call, count: int) -> dict:
    call(0)  # warm-up
    latencies = []
    started = time.perf_counter()
    for index in range(count):
        begin = time.perf_counter()
        call(index + 1)
        latencies.append(time.perf_counter() - begin)
    return summarise(latencies, time.perf_counter() - started)


def measure_concurrent(url: str, model: str, size: int, concurrency: int, count: int) -> dict:
    latencies, lock = [], threading.Lock()
    next_seed = iter(range(count))

    def worker():
        with SigClient(url, model) as client:
            client.sample(1, 10_000, size, size)  # warm-up and connect
            while True:
                with lock:
                    seed = next(next_seed, None)
                if seed is None:
                    return
                begin = time.perf_counter()
                client.sample(1, seed, size, size)
                with lock:
                    latencies.append(time.perf_counter() - begin)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return summarise(latencies, time.perf_counter() - started)


def summarise(latencies: list[float], wall: float) -> dict:
    ordered = sorted(latencies)
    return {
        "requests": len(ordered),
        "samples_per_s": len(ordered) / wall,
        "p50_ms": 1000 * statistics.median(ordered),
        "p99_ms": 1000 * ordered[min(len(ordered) - 1, int(round(0.99 * (len(ordered) - 1))))],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 250, 512])
    parser.add_argument("--plans", nargs="+", default=["reference", "closest_factor"], help="pyramid plans to compare (the first is the subject)")
    parser.add_argument("--run", type=Path, help="a trained run directory instead of the untrained paper architecture")
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--threads", type=int, default=0, help="CPU threads in process and per served model (0: one per core)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
        os.environ["SIGCTL_RUNTIME_THREADS"] = str(args.threads)  # read by each served model's process
    console = Console(width=150)
    console.print(cpu_description())
    workdir = Path(tempfile.mkdtemp(prefix="sigctl-bench-"))
    runs = {"trained": args.run} if args.run else {plan: paper_architecture_run(workdir / plan, plan) for plan in args.plans}
    rows, scales = [], {}
    for name, run in runs.items():
        export_artifact(run, workdir / "repo", name=f"bench_{name}", formats=("onnx",))
        bf16 = export_artifact(run, workdir / "repo", name=f"bench_{name}_bf16", formats=("torchscript",), precision="bf16")
        console.print(f"{name}: bf16 version measured {bf16.precision_difference}")
        pyramid = artifact.load(run).model
        served_locally = ModelRuntime(workdir / "repo" / f"bench_{name}" / "1", threads=args.threads)
        bf16_locally = ModelRuntime(bf16.folder, threads=args.threads)
        scales[name] = pyramid.num_trained
        for size in args.sizes:
            count = REQUESTS.get(size, 4)
            rows.append({"plan": name, "mode": "eager pytorch", "size": size, **measure(lambda s: sample_images(pyramid, 1, s, size, size), count)})
            rows.append({"plan": name, "mode": "onnxruntime", "size": size, **measure(lambda s: served_locally.sample(1, s, size, size), count)})
            rows.append({"plan": name, "mode": "torchscript bf16", "size": size, **measure(lambda s: bf16_locally.sample(1, s, size, size), count)})
            console.print(f"{name}: {size}px in process done")
    ports = _free_ports(3)
    settings = ServerSettings(workdir / "repo", grpc_port=ports[0], http_port=ports[1], metrics_port=ports[2])
    with TritonServer(settings) as server:
        for name in runs:
            for size in args.sizes:
                for concurrency in args.concurrency:
                    count = max(REQUESTS.get(size, 4), 2 * concurrency)
                    for suffix, label in (("", "triton grpc"), ("_bf16", "triton grpc bf16")):
                        result = measure_concurrent(server.settings.grpc_url, f"bench_{name}{suffix}", size, concurrency, count)
                        rows.append({"plan": name, "mode": f"{label} x{concurrency}", "size": size, **result})
                console.print(f"{name}: {size}px over gRPC done")
    described = ", ".join(f"{name}: {count} scales" for name, count in scales.items())
    table = Table(title=f"{'trained' if args.run else 'paper-architecture'} pyramids ({described}), 1 image per request, {torch.get_num_threads()} CPU threads")
    for column in ("plan", "size", "mode", "requests", "samples/s", "p50 ms", "p99 ms", "vs eager", f"vs {next(iter(runs))}"):
        table.add_column(column, justify="right")
    first = next(iter(runs))
    for name in runs:
        for size in args.sizes:
            eager = next(r for r in rows if r["plan"] == name and r["size"] == size and r["mode"] == "eager pytorch")
            for row in (r for r in rows if r["plan"] == name and r["size"] == size):
                subject = next(r for r in rows if r["plan"] == first and r["size"] == size and r["mode"] == row["mode"])
                row["ratio_vs_eager"] = row["samples_per_s"] / eager["samples_per_s"]
                row["ratio_vs_first_plan"] = row["samples_per_s"] / subject["samples_per_s"]
                table.add_row(
                    name, str(size), row["mode"], str(row["requests"]), f"{row['samples_per_s']:.2f}", f"{row['p50_ms']:.0f}",
                    f"{row['p99_ms']:.0f}", f"{row['ratio_vs_eager']:.2f}", f"{row['ratio_vs_first_plan']:.2f}",
                )
    console.print(table)
    out = Path(__file__).resolve().parent / "results" / "serve_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))
    console.print(f"wrote {out}")


def cpu_description() -> str:
    """The CPU's bf16/AMX support, read from /proc/cpuinfo (Linux) and as oneDNN sees it."""
    try:
        flags = next(line for line in Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("flags")).split()
    except (OSError, StopIteration):
        flags = []
    wanted = ("avx512f", "avx512_bf16", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8")
    found = ", ".join(f"{flag} {'yes' if flag in flags else 'no'}" for flag in wanted)
    return f"CPU flags: {found}; oneDNN bf16: {'yes' if cpu_has_bf16() else 'no'} (without it the bf16 rows run in fp32)"


def _free_ports(count: int) -> list[int]:
    import socket

    sockets = [socket.socket() for _ in range(count)]
    for sock in sockets:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in sockets]
    for sock in sockets:
        sock.close()
    return ports


if __name__ == "__main__":
    main()
