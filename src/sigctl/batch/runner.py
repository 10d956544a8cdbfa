"""Run a job: skip what the manifest says is done, make the rest, record each item once.

The output folder is sigctl's: new or empty when a job first runs, then marked with
``MARKER``. A folder that holds anything else is refused. In its own folder a run deletes only
sigctl's temporary files (``sigctl.core.paths``) that a killed run left, in the folders its planned
items live in, and replaces only the planned items' files.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from sigctl.batch.backends import ItemFailed
from sigctl.batch.jobfile import Item
from sigctl.batch.manifest import MANIFEST, JobManifest, LineError, line_file, parse_line, sha256_file
from sigctl.core.images import load_mask, load_rgb, save_animation, save_png
from sigctl.core.operations import MODE_ANIMATE, Request
from sigctl.core.requests import plan_request
from sigctl.core.requests import check_seed
from sigctl.core.paths import remove_temporaries, resolve_inside
from sigctl.errors import RequestError, SettingsError, SigctlError

ANIMATION_FPS = 10
MARKER = ".sigctl-batch"  # in every output folder sigctl batch owns


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


def request_for(parameters: dict, inputs: dict | None = None) -> Request:
    """The request an item (or a manifest line's parameters) stands for; checks input files' hashes.

    ``inputs`` (path -> array), when given, caches the images read, for checking many items.
    """
    image = _checked_input(parameters.get("image"), parameters.get("image_sha256"), load_rgb, inputs)
    mask = _checked_input(parameters.get("mask"), parameters.get("mask_sha256"), load_mask, inputs)
    return Request(
        mode=parameters["mode"], seed=parameters["seed"], num_samples=1, height=parameters["height"], width=parameters["width"],
        start_scale=parameters["start_scale"], image=image, mask=mask, quantize_colors=parameters["quantize_colors"],
        sr_factor=parameters["sr_factor"], frames=parameters["frames"], upscale=parameters.get("upscale", 1),
    )


def _checked_input(path, expected_sha, loader, inputs: dict | None = None):
    if path is None:
        return None
    key = (path, loader)
    if inputs is not None and key in inputs:
        return inputs[key]
    if not Path(path).is_file() or sha256_file(Path(path)) != expected_sha:
        raise SigctlError(f"input file {path} is missing or changed since the job was planned")
    value = loader(path)
    if inputs is not None:
        inputs[key] = value
    return value


def write_item(path: Path, images: np.ndarray, mode: str) -> None:
    if mode == MODE_ANIMATE:
        save_animation(path, images, ANIMATION_FPS)
    else:
        save_png(path, images[0])


def check_output(output: Path) -> None:
    """Refuse an output folder sigctl does not own: a file, or a non-empty folder without MARKER. Writes nothing."""
    if output.exists() and not output.is_dir():
        raise SettingsError(f"output {output} is a file; 'output' names the folder for the images and {MANIFEST}")
    if output.is_dir() and not (output / MARKER).is_file() and any(output.iterdir()):
        hint = (f"; if it is the output of an earlier sigctl batch run (before output folders were marked), "
                f"create {output / MARKER} to resume it") if (output / MANIFEST).is_file() else ""
        raise SettingsError(
            f"output {output} exists, is not empty and is not a sigctl batch output (no {MARKER}); "
            f"sigctl writes only into a new or empty folder: choose another 'output'{hint}"
        )


def read_done(output: Path, items: list[Item]) -> dict[str, dict]:
    """Manifest lines of planned items whose files are complete; refuse a job file that changed under them."""
    manifest = JobManifest(output)
    done = manifest.read_valid()
    planned = {item.id: item for item in items}
    for item_id, line in done.items():
        item = planned.get(item_id)
        if item is None or line["file"] != item.file or line["parameters"] != _json_ready(item.parameters()):
            raise SettingsError(
                f"{manifest.path} records item {item_id} with other parameters or another file than this job file plans; "
                f"the job changed since that run: use a new output folder"
            )
    return done


def prepare_output(output: Path, items: list[Item], done: dict[str, dict]) -> JobManifest:
    """Claim the output folder, drop a killed run's temporary files, keep the ``done`` lines of planned items."""
    check_output(output)
    folders = {output.resolve()}
    for parent in sorted({str(PurePosixPath(item.file).parent) for item in items} - {"."}):
        try:  # the job file was checked; this also catches a symbolic link inside the output leading out
            folders.add(resolve_inside(output, parent))
        except ValueError as error:
            raise SettingsError(f"output folder {error}; files must stay inside the output folder") from None
    output.mkdir(parents=True, exist_ok=True)
    (output / MARKER).write_text("a sigctl batch output folder: images and manifest.jsonl\n")
    for folder in folders:  # half-written files of a killed run: sigctl's names, in the job's own folders
        remove_temporaries(folder)
    manifest = JobManifest(output)
    manifest.rewrite([done[item.id] for item in items if item.id in done])
    return manifest


async def check_plan(items: list[Item], backend) -> dict:
    """Before any work: every model ready, and every item one its model accepts; returns the models.

    Each item's request is checked against its model's own limits (scale count, sizes, seeds,
    what its mode needs), read from the artifact or the served model's config.
    """
    models = await backend.check_models({item.model for item in items}) if items else {}
    limits = {model: await backend.limits(*models[model]) for model in models}
    inputs: dict = {}
    checked: set = set()
    refused: dict[str, tuple[str, int]] = {}  # task -> (first reason, count)
    for item in items:
        key = (item.model, tuple(v for k, v in sorted(item.parameters().items()) if k != "seed"))
        model = limits[item.model]
        try:
            if key in checked:  # the same request but its seed: seen already
                check_seed(item.seed, 1)
            else:
                plan_request(model.spec, model.limits, request_for(item.parameters(), inputs))
                checked.add(key)
        except RequestError as error:
            reason, count = refused.get(item.task, (f"item {item.id}: {error}", 0))
            refused[item.task] = (reason, count + 1)
    if refused:
        problems = "; ".join(f"task {task!r}: {count} of its items would be refused, e.g. {reason}" for task, (reason, count) in refused.items())
        raise SettingsError(f"the job asks for what the model cannot do, so nothing was run: {problems}")
    return models


async def run_job(
    items: list[Item], output: Path, backend, workers: int,
    on_item: Callable[[Item, bool], None] | None = None, on_start: Callable[[int], None] | None = None,
) -> Summary:
    """Make every item not yet done; returns what happened. Safe to kill and run again.

    ``on_start(already_done)`` is called once the manifest is read, ``on_item(item, ok)`` per item.
    """
    check_output(output)
    done = read_done(output, items)
    pending = [item for item in items if item.id not in done]
    models = await check_plan(pending, backend)  # before anything is written
    manifest = prepare_output(output, items, done)
    if on_start:
        on_start(len(done))
    summary = Summary(planned=len(items), already_done=len(done))
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


async def replay(line: dict, backend, out: Path, output: Path | None = None) -> tuple[bool, str]:
    """Make a manifest line's item again into ``out``; True when its bytes equal the recorded ones.

    ``output`` is the folder of the manifest the line came from: its ``file`` must lie inside it.
    """
    try:
        line = parse_line(line)
        if output is not None:
            line_file(output, line)
    except LineError as error:
        raise SettingsError(f"the manifest line {error}; it was not written by sigctl batch, or was edited") from None
    parameters = line["parameters"]
    try:
        models = await backend.check_models({line["model"]})
        request = request_for(parameters)
        model, _ = models[line["model"]]
        limits = await backend.limits(*models[line["model"]])
        plan_request(limits.spec, limits.limits, request)
        images, _ = await backend.run(model, request)
    finally:
        await backend.close()
    write_item(out, images, parameters["mode"])
    digest = sha256_file(out)
    return digest == line["sha256"], digest


def _json_ready(parameters: dict) -> dict:
    return {k: (float(v) if isinstance(v, float) else v) for k, v in parameters.items()}
