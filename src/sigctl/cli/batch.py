"""``sigctl batch``: large generation jobs from a job file, resumable, over one or many servers."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sigctl.batch.backends import LocalBackend, ServerPool
from sigctl.batch.jobfile import expand, load_job
from sigctl.batch.manifest import LineError, parse_line
from sigctl.batch.runner import check_plan, replay, request_for, run_job
from sigctl.cli.common import command, console, error_console
from sigctl.cli.running import check_writable_output
from sigctl.errors import SettingsError

FAILED_EXIT = 1


@command
def batch_command(
    job_file: Annotated[Optional[Path], typer.Argument(help="Job file (YAML or JSON).", show_default=False)] = None,
    server: Annotated[Optional[list[str]], typer.Option("--server", help="Triton endpoint HOST:PORT; repeat for several.")] = None,
    local: Annotated[Optional[Path], typer.Option("--local", help="Run in this process from the run directory RUN.")] = None,
    in_flight: Annotated[int, typer.Option(help="Requests in flight per server.")] = 4,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan and an estimate from a short probe; write nothing.")] = False,
    replay_line: Annotated[Optional[str], typer.Option("--replay", help="Regenerate one item from its manifest line (JSON, or MANIFEST:LINE_NUMBER).")] = None,
    out: Annotated[Path, typer.Option(help="With --replay: where to write the regenerated file.")] = Path("replayed.png"),
) -> None:
    """Generate every item of a job; re-running it completes what is missing and never repeats work."""
    if (local is None) == (not server):
        raise SettingsError("give --local RUN_DIR, or one or more --server HOST:PORT")
    backend = (lambda: LocalBackend(local)) if local else (lambda: ServerPool(list(server), in_flight))
    if replay_line is not None:
        line, output = _read_line(replay_line)
        check_writable_output(out, "--out", folder=False)
        identical, digest = asyncio.run(replay(line, backend(), out, output))
        console.print(f"{line['id']}: {'identical to' if identical else 'DIFFERS from'} the recorded file ({digest[:16]}...) -> {out}")
        raise typer.Exit(0 if identical else FAILED_EXIT)
    if job_file is None:
        raise SettingsError("give the JOB_FILE (or --replay LINE)")
    job = load_job(job_file)
    items = expand(job, job_file.parent)
    output = job.output if job.output.is_absolute() else job_file.parent / job.output
    if dry_run:
        _print_plan(items, backend(), output)
        return
    workers = 1 if local else in_flight * len(server)
    progress = Progress(TextColumn("[bold]batch"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[rate]}"),
                        TimeElapsedColumn(), TimeRemainingColumn(), console=console)
    bar = progress.add_task("items", total=len(items), rate="")
    started = time.perf_counter()

    def on_item(item, ok):
        progress.advance(bar)
        done = progress.tasks[bar].completed - progress.tasks[bar].fields.get("skipped", 0)
        progress.update(bar, rate=f"{done / max(1e-9, time.perf_counter() - started):.1f} img/s")

    def on_start(already_done):
        # Shown once the plan is accepted: a job refused before any work prints only its error.
        progress.update(bar, completed=already_done, skipped=already_done)
        progress.start()

    try:
        summary = asyncio.run(run_job(items, output, backend(), workers, on_item, on_start))
    finally:
        progress.stop()
    console.print(
        f"{summary.done} made, {summary.already_done} already done, {len(summary.failed)} failed, {summary.retried} retried, "
        f"{summary.images_per_s:.2f} images/s -> {output}"
    )
    for item_id, reason in summary.failed[:10]:
        error_console.print(f"  failed {item_id}: {reason}", markup=False, highlight=False)
    if summary.failed:
        raise typer.Exit(FAILED_EXIT)


def _print_plan(items, backend, output: Path) -> None:
    table = Table("task", "mode", "model", "items", "sizes", "pixels")
    by_task: dict[str, list] = {}
    for item in items:
        by_task.setdefault(item.task, []).append(item)
    probe_seconds = {}

    async def probe():
        models = await check_plan(items, backend)  # the plan is refused here as a run would refuse it
        for name, group in by_task.items():
            started = time.perf_counter()
            images, _ = await backend.run(models[group[0].model][0], request_for(group[0].parameters()))
            probe_seconds[name] = (time.perf_counter() - started, images.shape)
        await backend.close()

    asyncio.run(probe())
    total_pixels, total_seconds = 0, 0.0
    for name, group in by_task.items():
        seconds, shape = probe_seconds[name]
        sizes = sorted({(i.height or shape[1], i.width or shape[2]) for i in group})
        pixels = sum((i.height or shape[1]) * (i.width or shape[2]) * (i.frames if i.mode == "animate" else 1) for i in group)
        total_pixels += pixels
        total_seconds += seconds * len(group)
        shown = ", ".join(f"{h}x{w}" for h, w in sizes[:4]) + (" ..." if len(sizes) > 4 else "")
        table.add_row(name, group[0].mode, str(group[0].model or "(the only one)"), str(len(group)), shown, f"{pixels:,}")
    console.print(table)
    estimate = total_seconds / max(1, backend.parallelism)
    console.print(f"{len(items)} items, {total_pixels:,} pixels -> {output}; estimated {estimate:.0f} s "
                  f"(one probe request per task, spread over {backend.parallelism} worker(s))")


def _read_line(text: str) -> tuple[dict, Path | None]:
    """The manifest line --replay names (checked), and the folder of its manifest when read from a file."""
    if text.lstrip().startswith("{"):
        where, line_text, output = "the --replay line", text, None
    else:
        path, _, number = text.rpartition(":")
        if not path or not number.isdigit():
            raise SettingsError("--replay takes a manifest line as JSON, or MANIFEST:LINE_NUMBER (1-based)")
        manifest = Path(path)
        if manifest.is_dir():
            raise SettingsError(f"{manifest} is a directory; give the manifest file ({manifest / 'manifest.jsonl'}:{number})")
        if not manifest.is_file():
            raise SettingsError(f"manifest {manifest} does not exist")
        lines = manifest.read_text(errors="replace").splitlines()
        if not 1 <= int(number) <= len(lines):
            raise SettingsError(f"{manifest} has {len(lines)} lines; line {number} does not exist")
        where, line_text, output = f"line {number} of {manifest}", lines[int(number) - 1], manifest.parent
    try:
        return parse_line(line_text), output
    except LineError as error:
        raise SettingsError(f"{where} {error}; it is not a line sigctl batch wrote") from None
