"""Each manipulation on quick models trained on the bundled real pairs: pictures and timings.

Trains (once, into runs/gallery/) quick-preset models for paint (cows), edit (stone), harmonize
(starry night), super-resolution (33039_LR, x4) and animation (lightning); with --pictures writes
the README's pictures to docs/; then times each mode in process (PyTorch) and through Triton
(gRPC, one request at a time), median of --repeats, and prints one table.

    .venv/bin/python bench/manipulations.py [--pictures] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

from sigctl import artifact
from sigctl.client import SigClient
from sigctl.config import load_settings
from sigctl.core.images import load_mask, load_rgb, save_animation, save_png
from sigctl.core.operations import Request, execute
from sigctl.core.pixels import make_grid, resize_uint8
from sigctl.export.exporter import export_artifact
from sigctl.serving.server import ServerSettings, TritonServer

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "examples" / "images"
GALLERY = ROOT / "runs" / "gallery"
DOCS = ROOT / "docs"
MODELS = {
    "cows": ("train/cows.png", {}),
    "stone": ("train/stone.png", {}),
    "starry_night": ("train/starry_night.png", {}),
    "lightning": ("train/lightning1.png", {}),
    "lowres_sr": ("train/33039_LR.png", {"super_resolution_factor": 4.0, "loss": {"reconstruction_weight": 100.0}, "pyramid": {"max_size": 120}}),
}


def requests() -> dict[str, tuple[str, Request]]:
    return {
        "paint": ("cows", Request("paint", seed=1, image=load_rgb(IMAGES / "paint/cows.png"), quantize_colors=5)),
        "edit": ("stone", Request("edit", seed=1, image=load_rgb(IMAGES / "editing/stone_edit.png"), mask=load_mask(IMAGES / "editing/stone_edit_mask.png"))),
        "harmonize": ("starry_night", Request("harmonize", seed=1, image=load_rgb(IMAGES / "harmonization/starry_night_naive.png"),
                                              mask=load_mask(IMAGES / "harmonization/starry_night_naive_mask.png"))),
        "super_resolve x4": ("lowres_sr", Request("super_resolve", seed=1, image=load_rgb(IMAGES / "train/33039_LR.png"))),
        "animate 30 frames": ("lightning", Request("animate", seed=1, frames=30)),
        "sample": ("cows", Request("sample", seed=1)),
    }


def train_missing(console: Console) -> None:
    from sigctl.training.loop import train

    for name, (image, extra) in MODELS.items():
        if not (GALLERY / name / "manifest.json").exists():
            console.print(f"training quick model {name} ...")
            train(IMAGES / image, GALLERY / name, load_settings("quick", overrides=extra))


def write_pictures(console: Console) -> None:
    """Input beside output, small PNGs for the README (and a GIF for animation)."""
    DOCS.mkdir(exist_ok=True)
    for mode, (model, request) in requests().items():
        executor = artifact.load(GALLERY / model).executor()
        output = execute(executor, request)
        name = mode.split()[0]
        if name == "animate":
            zoom = max(1, 192 // max(output.shape[1:3]))
            save_animation(DOCS / "animate.gif", output.repeat(zoom, axis=1).repeat(zoom, axis=2), fps=10)
            continue
        if name == "sample":
            continue
        shown = [resize_uint8(request.image, *output.shape[1:3]), output[0]] if request.image is not None else [output[0]]
        if name == "super_resolve":
            # Nearest-neighbour enlargement of the input beside the output, same size, for comparison.
            low = request.image
            shown = [low.repeat(4, axis=0).repeat(4, axis=1), output[0]]
        # Quick models are 64 px: enlarge small pairs (nearest neighbour, pixels stay honest) to be seen.
        save_png(DOCS / f"{name}.png", make_grid(shown, columns=len(shown), min_cell=192))
        console.print(f"wrote docs/{name}.png")


def median_seconds(call, repeats: int) -> float:
    call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pictures", action="store_true", help="write the README pictures to docs/")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    console = Console()
    train_missing(console)
    if args.pictures:
        write_pictures(console)
    repository = Path(tempfile.mkdtemp(prefix="sigctl-bench-repo-"))
    for name in MODELS:
        export_artifact(GALLERY / name, repository, name=name, formats=("onnx",))
    rows = []
    import socket

    ports = []
    for _ in range(3):
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            ports.append(sock.getsockname()[1])
    with TritonServer(ServerSettings(repository, grpc_port=ports[0], http_port=ports[1], metrics_port=ports[2])) as server:
        for mode, (model, request) in requests().items():
            executor = artifact.load(GALLERY / model).executor()
            local = median_seconds(lambda: execute(executor, request), args.repeats)
            with SigClient(server.settings.grpc_url, model) as client:
                served = median_seconds(lambda: client.run(request), args.repeats)
                shape = client.run(request).shape
            rows.append({"mode": mode, "model": model, "output": list(shape), "local_ms": 1000 * local, "triton_ms": 1000 * served})
    table = Table(title=f"manipulations on quick models, median of {args.repeats}, 2-core CPU")
    for column in ("mode", "model", "output (N, H, W, 3)", "in process ms", "Triton gRPC ms", "Triton / in process"):
        table.add_column(column, justify="right")
    for row in rows:
        table.add_row(row["mode"], row["model"], str(tuple(row["output"])), f"{row['local_ms']:.0f}", f"{row['triton_ms']:.0f}", f"{row['triton_ms'] / row['local_ms']:.2f}")
    console.print(table)
    out = ROOT / "bench" / "results" / "manipulations.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
