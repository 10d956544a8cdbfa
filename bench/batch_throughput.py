"""Batch throughput: images/s for 1 and 2 local Triton servers and several in-flight limits,
against a naive sequential client loop, with the CPU the servers and the client used.

Uses a trained run (default runs/demo, the demo's quick model; trains it if missing). Prints one
table and writes bench/results/batch_throughput.json.

    .venv/bin/python bench/batch_throughput.py [--run runs/demo] [--items 120] [--size 64]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import socket
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sigctl.batch.backends import ServerPool
from sigctl.batch.jobfile import expand, load_job
from sigctl.batch.runner import run_job
from sigctl.client import SigClient
from sigctl.config import load_settings
from sigctl.core.images import save_png
from sigctl.export.exporter import export_artifact
from sigctl.serving.server import ServerSettings, TritonServer

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of the given processes and their children that are alive now."""
    total = 0.0
    seen = set()
    stack = list(pids)
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.add(pid)
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / TICKS
            for task in Path(f"/proc/{pid}/task").iterdir():
                stack.extend(int(child) for child in (task / "children").read_text().split())
        except OSError:
            continue
    return total


def client_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def free_ports(count: int) -> list[int]:
    ports = []
    for _ in range(count):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    return ports


def measure(label, servers, run):
    server_pids = [s.process.pid for s in servers]
    server_before, client_before = cpu_seconds(server_pids), client_cpu()
    started = time.perf_counter()
    count = run()
    wall = time.perf_counter() - started
    return {
        "config": label, "images": count, "seconds": wall, "images_per_s": count / wall,
        "server_cores": (cpu_seconds(server_pids) - server_before) / wall, "client_cores": (client_cpu() - client_before) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "demo")
    parser.add_argument("--items", type=int, default=120)
    parser.add_argument("--size", type=int, default=64)
    args = parser.parse_args()
    console = Console()
    if not (args.run / "manifest.json").exists():
        from sigctl.training.loop import train

        console.print(f"training the quick preset into {args.run} ...")
        train(ROOT / "examples/images/train/balloons.png", args.run, load_settings("quick"))
    workdir = Path(tempfile.mkdtemp(prefix="sigctl-batch-bench-"))
    export_artifact(args.run, workdir / "repo", name="bench", formats=("onnx",))
    job_path = workdir / "job.yaml"
    servers = []
    for _ in range(2):
        ports = free_ports(3)
        server = TritonServer(ServerSettings(workdir / "repo", grpc_port=ports[0], http_port=ports[1], metrics_port=ports[2]))
        server.start()
        servers.append(server)
    rows = []
    try:
        def naive():
            out = workdir / "naive"
            with SigClient(servers[0].settings.grpc_url, "bench") as client:
                for index in range(args.items):
                    save_png(out / f"{index}.png", client.sample(1, index, args.size, args.size)[0])
            return args.items

        rows.append(measure("naive sequential loop, 1 server", servers[:1], naive))
        for used, in_flight in ((1, 1), (1, 2), (1, 4), (2, 1), (2, 2), (2, 4)):
            chosen = servers[:used]
            job_path.write_text(json.dumps({"output": f"out-{used}-{in_flight}", "tasks": [
                {"model": "bench", "count": args.items, "height": args.size, "width": args.size}]}))
            items = expand(load_job(job_path), workdir)

            def batch():
                pool = ServerPool([s.settings.grpc_url for s in chosen], in_flight=in_flight)
                summary = asyncio.run(run_job(items, workdir / f"out-{used}-{in_flight}", pool, workers=in_flight * used))
                assert not summary.failed, summary.failed[:3]
                return summary.done

            rows.append(measure(f"sigctl batch, {used} server(s), {in_flight} in flight each", chosen, batch))
    finally:
        for server in servers:
            server.stop()
    baseline = rows[0]["images_per_s"]
    table = Table(title=f"{args.items} images of {args.size}x{args.size}, quick model, {os.cpu_count()} CPU cores")
    for column in ("config", "images/s", "vs naive", "server cores", "client cores"):
        table.add_column(column, justify="right")
    for row in rows:
        row["ratio_vs_naive"] = row["images_per_s"] / baseline
        table.add_row(row["config"], f"{row['images_per_s']:.1f}", f"{row['ratio_vs_naive']:.2f}", f"{row['server_cores']:.2f}", f"{row['client_cores']:.2f}")
    console.print(table)
    out = ROOT / "bench" / "results" / "batch_throughput.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
