"""Run a job: skip what the manifest says is done, make the rest, record each item once."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from sigctl.batch.backends import ItemFailed
from sigctl.batch.jobfile import Item
from sigctl.batch.manifest import JobManifest, sha256_file
from sigctl.core.images import load_mask, load_rgb, save_animation, save_png
from sigctl.core.operations import MODE_ANIMATE, Request
from sigctl.errors import SettingsError, SigctlError

ANIMATION_FPS = 10


@dataclass
class Summary:
    planned: int
    already_done: int = 0
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    retried: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.done / self.seconds if self.seconds else 0.0


def request_for(parameters: dict) -> Request:
    """The request an item (or a manifest line's parameters) stands for; checks input files' hashes."""
    image = _checked_input(parameters.get("image"), parameters.get("image_sha256"), load_rgb)
    mask = _checked_input(parameters.get("mask"), parameters.get("mask_sha256"), load_mask)
    return Request(
        mode=parameters["mode"], seed=parameters["seed"], num_samples=1, height=parameters["height"], width=parameters["width"],
        start_scale=parameters["start_scale"], image=image, mask=mask, quantize_colors=parameters["quantize_colors"],
        sr_factor=parameters["sr_factor"], frames=parameters["frames"],
    )


def _checked_input(path, expected_sha, loader):
    if path is None:
        return None
    if not Path(path).is_file() or sha256_file(Path(path)) != expected_sha:
        raise SigctlError(f"input file {path} is missing or changed since the job was planned")
    return loader(path)


def write_item(path: Path, images: np.ndarray, mode: str) -> None:
    if mode == MODE_ANIMATE:
        save_animation(path, images, ANIMATION_FPS)
    else:
        save_png(path, images[0])


def prepare_output(output: Path, items: list[Item]) -> tuple[JobManifest, dict[str, dict]]:
    """Keep valid manifest lines of planned items; refuse a job file that changed under them."""
    output.mkdir(parents=True, exist_ok=True)
    for leftover in output.rglob(".*.tmp*"):  # half-written files of a killed run
        leftover.unlink(missing_ok=True)
    manifest = JobManifest(output)
    done = manifest.read_valid()
    planned = {item.id: item for item in items}
    for item_id, line in done.items():
        if item_id not in planned or line["parameters"] != _json_ready(planned[item_id].parameters()):
            raise SettingsError(
                f"{manifest.path} records item {item_id} with other parameters than this job file plans; "
                f"the job changed since that run: use a new output folder"
            )
    manifest.rewrite([done[item.id] for item in items if item.id in done])
    return manifest, done


async def run_job(
    items: list[Item], output: Path, backend, workers: int,
    on_item: Callable[[Item, bool], None] | None = None, on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Make every item not yet done; returns what happened. Safe to kill and run again.

    ``on_start(already_done)`` is called once the manifest is read, ``on_item(item, ok)`` per item.
    """
    manifest, done = prepare_output(output, items)
    if on_start:
        on_start(len(done))
    pending = [item for item in items if item.id not in done]
    summary = Summary(planned=len(items), already_done=len(done))
    models = await backend.check_models({item.model for item in pending}) if pending else {}
    queue: asyncio.Queue[Item] = asyncio.Queue()
    for item in pending:
        queue.put_nowait(item)
    started = time.perf_counter()

    async def work() -> None:
        while True:
            try:
                item = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            model, version = models[item.model]
            begin = time.perf_counter()
            try:
                images, endpoint = await backend.run(model, request_for(item.parameters()))
                path = output / item.file
                await asyncio.to_thread(write_item, path, images, item.mode)
                line = {"id": item.id, "task": item.task, "index": item.index, "file": item.file, "sha256": sha256_file(path),
                        "model": model, "model_version": version, "endpoint": endpoint,
                        "seconds": round(time.perf_counter() - begin, 4), "parameters": _json_ready(item.parameters())}
                manifest.append(line)
                summary.done += 1
                ok = True
            except (ItemFailed, SigctlError) as error:
                summary.failed.append((item.id, str(error)))
                ok = False
            if on_item:
                on_item(item, ok)

    try:
        await asyncio.gather(*(work() for _ in range(max(1, workers))))
    finally:
        summary.seconds = time.perf_counter() - started
        summary.retried = backend.retries
        await backend.close()
    return summary


async def replay(line: dict, backend, out: Path) -> tuple[bool, str]:
    """Make a manifest line's item again into ``out``; True when its bytes equal the recorded ones."""
    parameters = line["parameters"]
    await backend.check_models({line["model"]})
    images, _ = await backend.run(line["model"], request_for(parameters))
    write_item(out, images, parameters["mode"])
    await backend.close()
    digest = sha256_file(out)
    return digest == line["sha256"], digest


def _json_ready(parameters: dict) -> dict:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in parameters.items()}
