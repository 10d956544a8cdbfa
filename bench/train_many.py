"""Many-image training throughput: images/hour for 1 vs 2 local workers, and Ray's overhead, in one run.

Trains the same tiny job (the bundled training images, tiny preset) from scratch three times:
``--executor local --parallel 1`` (the baseline), ``--parallel 2``, and ``--executor ray`` on a
local Ray cluster of this machine's cores (``ray.init`` inside the command: its start is part of
the cost a user pays). Each runs as the CLI, in a fresh output folder. Prints a table and writes
bench/results/train_many.json.

    .venv/bin/python bench/train_many.py [--images 4] [--iterations 40]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from rich.console import Console
from rich.table import Table

TRAIN_IMAGES = Path(__file__).resolve().parents[1] / "examples" / "images" / "train"
RUNS = (("local, 1 worker", ("--parallel", "1")), ("local, 2 workers", ("--parallel", "2")), ("ray, local cluster", ("--executor", "ray")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=4)
    parser.add_argument("--iterations", type=int, default=40, help="iterations per stage (tiny preset)")
    args = parser.parse_args()
    images = sorted(TRAIN_IMAGES.glob("*.png"))[: args.images]
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "images").mkdir()
        for image in images:
            shutil.copy(image, root / "images" / image.name)
        env = {**os.environ, "RAY_AUTH_MODE": "disabled", "HOME": str(root)}  # Ray writes ~/.ray otherwise
        for name, options in RUNS:
            job = root / f"{len(rows)}.yaml"
            job.write_text(yaml.safe_dump({"output": f"out{len(rows)}", "images": ["images/*.png"], "preset": "tiny",
                                           "settings": {"optimizer": {"iterations_per_scale": args.iterations}}}))
            started = time.perf_counter()
            subprocess.run([sys.executable, "-m", "sigctl", "train-many", str(job), *options], check=True, env=env, capture_output=True)
            rows.append({"executor": name, "images": len(images), "seconds": time.perf_counter() - started})
    baseline = rows[0]["seconds"]
    table = Table(title=f"train-many, {len(images)} images, tiny preset, {args.iterations} iterations/stage, {os.cpu_count()} cores")
    for column in ("executor", "wall s", "images/hour", "vs 1 worker"):
        table.add_column(column, justify="right")
    for row in rows:
        row["images_per_hour"] = row["images"] * 3600 / row["seconds"]
        table.add_row(row["executor"], f"{row['seconds']:.1f}", f"{row['images_per_hour']:.0f}", f"{baseline / row['seconds']:.2f}x")
    console = Console()
    console.print(table)
    overhead = rows[2]["seconds"] - rows[1]["seconds"]
    console.print(f"ray vs local with the same 2-way concurrency: {overhead:+.1f} s for the job ({overhead / len(images):+.1f} s per image)")
    results = Path(__file__).resolve().parent / "results"
    results.mkdir(exist_ok=True)
    (results / "train_many.json").write_text(json.dumps({"iterations": args.iterations, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
