"""Many models on one server: what one Triton model per pyramid costs, and what --max-loaded saves.

Exports one tiny pyramid under ``--models`` names into a temporary repository, then in one run:
serves them all loaded (the baseline) and with ``--max-loaded N``; for each, the same shuffled
loop of single-sample requests (one client per model, as ``sigctl batch`` does) gives requests/s;
the RSS of every python-backend stub (from /proc) and of tritonserver; and, under --max-loaded,
how long loading one model on demand takes (an admission request for a model not loaded,
unloading the least recently used one first). Prints a table; writes bench/results/max_loaded.json.

    .venv/bin/python bench/max_loaded.py [--models 6] [--max-loaded 2] [--rounds 3] [--run runs/NAME]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sigctl.client import SigClient
from sigctl.serving.admission import ADMISSION_MODEL, admission_inputs
from sigctl.serving.server import ServerSettings, TritonServer, grpcclient_module
from sigctl.serving.processes import STUB_NAME, children

from serve_throughput import _free_ports as free_ports  # bench/ is on the path when a script in it runs

BALLOONS = Path(__file__).resolve().parents[1] / "examples" / "images" / "train" / "balloons.png"


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def stub_rss(server: TritonServer) -> dict[str, float]:
    """Model name -> RSS (MiB) of its stub process."""
    found = {}
    for pid in children(server.process.pid):
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if arguments[0].endswith(STUB_NAME.encode()):
            found[Path(arguments[1].decode()).parent.parent.name] = rss_mib(pid)
    return found


def serve(repository: Path, models: list[str], max_loaded: int | None, rounds: int) -> dict:
    grpc_port, http_port, metrics_port = free_ports(3)
    settings = ServerSettings(repository, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port, max_loaded=max_loaded)
    started = time.perf_counter()
    with TritonServer(settings) as server:
        startup_s = time.perf_counter() - started
        stubs = stub_rss(server)
        pyramid_rss = [rss for name, rss in stubs.items() if name != ADMISSION_MODEL]
        row = {"max_loaded": max_loaded, "startup_s": startup_s, "stub_rss_mib": statistics.median(pyramid_rss),
               "stubs_total_mib": sum(stubs.values()), "tritonserver_mib": rss_mib(server.process.pid), "admission_rss_mib": stubs.get(ADMISSION_MODEL)}
        clients = {name: SigClient(settings.grpc_url, name) for name in models}
        for name in models[:max_loaded or len(models)]:
            clients[name].sample(1, 0)  # warm: the first request of a fresh session is slower
        order = models * rounds
        random.Random(0).shuffle(order)
        loop_started = time.perf_counter()
        for name in order:
            clients[name].sample(1, 0)
        row["requests_per_s"] = len(order) / (time.perf_counter() - loop_started)
        row["requests"] = len(order)
        if max_loaded is not None:
            row["load_on_demand_s"] = _load_times(server, models)
        for client in clients.values():
            client.close()
    return row


def _load_times(server: TritonServer, models: list[str]) -> float:
    """Median wall time of an admission request for a model not loaded (includes unloading one)."""
    grpc = grpcclient_module()
    client, times = server.client(), []
    for name in models:
        if server.model_states().get(name) == "READY":
            continue
        started = time.perf_counter()
        client.infer(ADMISSION_MODEL, admission_inputs(grpc, name))
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def shared_process_costs(repository: Path, models: list[str]) -> dict:
    """What one shared process would pay per pyramid instead: a ModelRuntime (its ONNX sessions) built
    in this process, timed, and the RSS it adds; the same runtime each stub builds at load."""
    from sigctl.serving.runtime import ModelRuntime

    runtimes, times, before = [], [], rss_mib(os.getpid())
    for name in models:
        started = time.perf_counter()
        runtimes.append(ModelRuntime(repository / name / "1"))
        times.append(time.perf_counter() - started)
    return {"runtime_load_s": statistics.median(times), "runtime_rss_mib": (rss_mib(os.getpid()) - before) / len(models)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=int, default=6)
    parser.add_argument("--max-loaded", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="each model is asked this many times, in shuffled order")
    parser.add_argument("--run", type=Path, help="a trained run to export (default: train balloons with the tiny preset)")
    args = parser.parse_args()
    from sigctl.config import load_settings
    from sigctl.export.exporter import export_artifact
    from sigctl.training.loop import train

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        run = args.run
        if run is None:
            run = root / "run"
            train(BALLOONS, run, load_settings("tiny"))
        models = [f"pyramid{i}" for i in range(args.models)]
        for name in models:
            export_artifact(run, root / "repository", name=name, formats=("onnx",))
        rows = [serve(root / "repository", models, None, args.rounds), serve(root / "repository", models, args.max_loaded, args.rounds)]
        shared = shared_process_costs(root / "repository", models)
    baseline = rows[0]["requests_per_s"]
    table = Table(title=f"{args.models} tiny pyramids, {args.rounds} shuffled rounds of 1-sample requests, {os.cpu_count()} cores")
    for column in ("loaded", "startup s", "RSS/stub MiB", "all stubs MiB", "tritonserver MiB", "load on demand s", "requests/s", "vs all loaded"):
        table.add_column(column, justify="right")
    for row in rows:
        loaded = "all" if row["max_loaded"] is None else f"at most {row['max_loaded']}"
        on_demand = f"{row['load_on_demand_s']:.2f}" if "load_on_demand_s" in row else "-"
        table.add_row(loaded, f"{row['startup_s']:.1f}", f"{row['stub_rss_mib']:.0f}", f"{row['stubs_total_mib']:.0f}", f"{row['tritonserver_mib']:.0f}",
                      on_demand, f"{row['requests_per_s']:.2f}", f"{row['requests_per_s'] / baseline:.2f}x")
    console = Console(width=160)  # the table is wider than a default terminal
    console.print(table)
    if rows[1]["admission_rss_mib"]:
        console.print(f"the admission model's own stub: {rows[1]['admission_rss_mib']:.0f} MiB")
    console.print(f"one shared process instead: a pyramid's runtime loads in {shared['runtime_load_s'] * 1000:.0f} ms (median) "
                  f"and adds {shared['runtime_rss_mib']:.1f} MiB RSS")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "max_loaded.json").write_text(json.dumps({"models": args.models, "rounds": args.rounds, "rows": rows, "shared_process": shared}, indent=2))


if __name__ == "__main__":
    main()
