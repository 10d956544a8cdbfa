"""``sigctl train-many``: one artifact per image of a job file, on this machine or a Ray cluster."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from sigctl.cli.common import INTERRUPTED_EXIT, command, console, error_console
from sigctl.cluster.jobfile import load_train_job
from sigctl.cluster.runner import MANIFEST, failed, run_plan, survey
from sigctl.errors import SettingsError

FAILED_EXIT = 1
EXECUTORS = ("local", "ray")


@command
def train_many_command(
    job_file: Annotated[Path, typer.Argument(help="Job file (YAML or JSON): output, images, preset.", show_default=False)],
    executor: Annotated[str, typer.Option(help="local (child processes here) or ray (Ray core tasks).")] = "local",
    parallel: Annotated[int, typer.Option(help="local: images trained at once (torch threads: cores / N each).")] = 1,
    address: Annotated[Optional[str], typer.Option(help="ray: cluster address (e.g. auto, or HOST:6379) [default: a local cluster].")] = None,
    gpus_per_task: Annotated[float, typer.Option(help="ray: GPUs per image (fractions share a GPU).")] = 0.0,
    retries: Annotated[int, typer.Option(help="Times an image is retried when its worker or node is lost (not when training fails).")] = 3,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the plan (each image's folder and state); write nothing.")] = False,
) -> None:
    """Train one pyramid per image; re-running the job skips finished images and resumes partial ones."""
    if executor not in EXECUTORS:
        raise SettingsError(f"unknown executor {executor!r}; use {' or '.join(EXECUTORS)}")
    if retries < 0:
        raise SettingsError(f"--retries must be 0 or more, got {retries}")
    if executor == "local" and (address is not None or gpus_per_task):
        raise SettingsError("--address and --gpus-per-task are for --executor ray")
    plan = load_train_job(job_file)
    if dry_run:
        _print_plan(plan, executor)
        return
    if executor == "ray":
        from sigctl.cluster.executors import RayExecutor

        runner = RayExecutor(address, gpus_per_task, retries=retries)
    else:
        from sigctl.cluster.executors import LocalExecutor

        runner = LocalExecutor(parallel, retries=retries)
    todo = sum(1 for entry in survey(plan) if entry.state != "done")
    observer = _ProgressObserver(todo)
    try:
        with observer.progress:
            outcomes = run_plan(plan, runner, observer)
    except KeyboardInterrupt:
        error_console.print(f"interrupted: finished images are kept and partial ones resume; run  sigctl train-many {job_file}  again")
        raise typer.Exit(INTERRUPTED_EXIT) from None
    bad = failed(outcomes)
    console.print(f"{len(plan.items)} images: {len(plan.items) - todo} already done, {len(outcomes) - len(bad)} trained, "
                  f"{len(bad)} failed -> {plan.output} (outcomes in {plan.output / MANIFEST})", highlight=False)
    for line in bad:
        error_console.print(f"failed: {line['id']}: {line['error']}", highlight=False, soft_wrap=True)
    if bad:
        raise typer.Exit(FAILED_EXIT)


def _print_plan(plan, executor: str) -> None:
    table = Table(title=f"{plan.settings['recipe']} / preset {plan.job.preset} -> {plan.output} ({executor})")
    for column in ("#", "image", "artifact folder", "state"):
        table.add_column(column)
    for entry in survey(plan):
        state = entry.state
        if entry.position is not None:
            state += f" (resumes after stage {entry.position['completed_stages']}, iteration {entry.position['stage_iterations_done']})"
        table.add_row(str(entry.item.index), entry.item.image, entry.item.id, state)
    console.print(table)


class _ProgressObserver:
    """One bar over the images to train, with how many run (or wait in Ray's queue) and failed."""

    def __init__(self, total: int):
        self.progress = Progress(TextColumn("[bold]train-many"), BarColumn(), MofNCompleteColumn(), TextColumn("{task.fields[state]}"),
                                 TimeElapsedColumn(), TimeRemainingColumn(), console=console)
        self.bar = self.progress.add_task("images", total=total, state="")
        self.running: set[str] = set()
        self.failed = 0

    def started(self, item_id: str) -> None:
        self.running.add(item_id)
        self._show()

    def finished(self, outcome: dict[str, Any]) -> None:
        self.running.discard(outcome["id"])
        self.failed += outcome["status"] == "failed"
        self.progress.advance(self.bar)
        self._show()

    def _show(self) -> None:
        self.progress.update(self.bar, state=f"running {len(self.running)} failed {self.failed}")
