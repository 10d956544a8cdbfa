"""The stage loop every recipe runs in: iterations, log windows, checkpoints, and where a resume starts.

A stage's iterations are logged in windows (about ``LOG_POINTS_PER_STAGE`` per stage); the loss
tensors are read back once per window, not per step. A checkpoint is written after every stage,
and inside one at the first window boundary after ``checkpoint_interval_seconds`` have passed
since the last; so a resumed run restarts at a window boundary and its windows, its loss log and
its tensors are those of an uninterrupted run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from torch import nn

from sigctl.artifact import files
from sigctl.errors import RunStateError
from sigctl.training.checkpoints import Checkpoint, save_checkpoint
from sigctl.training.loss_window import LossWindow
from sigctl.training.precision import Precision, step_precision
from sigctl.training.recipes.base import Recipe
from sigctl.training.rng import seed_stage

log = logging.getLogger(__name__)

LOG_POINTS_PER_STAGE = 100


class TrainingObserver:
    """Hooks the loop calls; the CLI draws a progress bar with them. Defaults do nothing.

    ``step`` comes every iteration and carries no losses, so it never waits for the device;
    ``window_closed`` brings the window's mean losses, read in the loop's one sync.
    """

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None: ...

    def stage_started(self, stage: int, first_iteration: int = 0) -> None: ...

    def step(self, stage: int, iteration: int) -> None: ...

    def window_closed(self, stage: int, iteration: int, losses: dict[str, float]) -> None: ...

    def checkpoint_saved(self, completed_stages: int, stage_iterations_done: int) -> None: ...

    def stage_preview(self, stage: int, model: nn.Module) -> None:
        """The model trained so far (stages 0..stage), for observers that draw samples; before stage_finished."""

    def stage_finished(self, stage: int) -> None: ...


@dataclass
class StagesResult:
    loss_log: list[dict] = field(default_factory=list)
    training_seconds: float = 0.0


def run_stages(
    recipe: Recipe,
    run_dir: Path,
    checkpoint: Checkpoint | None,
    observer: TrainingObserver,
    *,
    seed: int,
    checkpoint_interval_seconds: float,
    precision: Precision = "fp32",
    clock: Callable[[], float] = time.monotonic,
) -> StagesResult:
    """Train ``recipe``'s stages from the start, or from ``checkpoint``, writing checkpoints into ``run_dir``.

    ``precision`` is the arithmetic of every ``step`` (``sigctl.training.precision``; the caller
    has already fallen back to fp32 where bf16 is unsupported); ``clock`` measures the checkpoint
    interval (tests pass a fake one).
    """
    first_stage, first_iteration, done_before = 0, 0, StagesResult()
    if checkpoint is not None:
        first_stage, first_iteration = _restore(recipe, checkpoint, run_dir)
        done_before = StagesResult(list(checkpoint.loss_log), checkpoint.training_seconds)
    run = _StageRunner(recipe, Path(run_dir), observer, checkpoint_interval_seconds, clock, done_before, precision)
    observer.run_started(recipe.num_stages(), first_stage, [recipe.iterations(s) for s in range(recipe.num_stages())])
    for stage in range(first_stage, recipe.num_stages()):
        start = first_iteration if stage == first_stage else 0
        if start == 0:
            seed_stage(seed, stage)
            recipe.begin_stage(stage)
        observer.stage_started(stage, start)
        run.train_stage(stage, start)
        recipe.end_stage()
        run.save_checkpoint(stage + 1, 0)
        # An observer sampling the model puts it in eval mode: give every module its own mode back
        # (SinGAN's frozen scales stay in eval mode while the model itself is in training mode).
        modes = [(module, module.training) for module in recipe.model.modules()]
        observer.stage_preview(stage, recipe.model)
        for module, training in modes:
            module.training = training
        observer.stage_finished(stage)
    return StagesResult(run.loss_log, run.training_seconds())


class _StageRunner:
    """One session of the loop: its loss log so far, its time, and when it last checkpointed."""

    def __init__(
        self, recipe: Recipe, run_dir: Path, observer: TrainingObserver, interval_seconds: float, clock: Callable[[], float],
        done_before: StagesResult, precision: Precision,
    ):
        self.recipe, self.run_dir, self.observer = recipe, run_dir, observer
        self.precision, self.device = precision, recipe.context.device
        self.interval_seconds, self.clock = interval_seconds, clock
        self.loss_log, self.seconds_before = done_before.loss_log, done_before.training_seconds
        self.started = time.perf_counter()
        self.last_checkpoint = clock()

    def training_seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self.started

    def train_stage(self, stage: int, start: int) -> None:
        iterations = self.recipe.iterations(stage)
        window_size = max(1, iterations // LOG_POINTS_PER_STAGE)
        window = LossWindow()
        for iteration in range(start, iterations):
            with step_precision(self.precision, self.device):
                window.add(self.recipe.step(iteration))
            self.observer.step(stage, iteration)
            if (iteration + 1) % window_size != 0 and iteration != iterations - 1:
                continue
            losses = window.close()  # the window's one device sync
            self.loss_log.append({"stage": stage, "iteration": iteration, **losses})
            self.observer.window_closed(stage, iteration, losses)
            # Not after the last window: the stage's own checkpoint follows at once.
            if iteration != iterations - 1 and self.clock() - self.last_checkpoint >= self.interval_seconds:
                self.save_checkpoint(stage, iteration + 1)

    def save_checkpoint(self, completed_stages: int, stage_iterations_done: int) -> None:
        state = self.recipe.state_dict()
        save_checkpoint(self.run_dir, Checkpoint(completed_stages, self.training_seconds(), self.loss_log, state, stage_iterations_done))
        self.last_checkpoint = self.clock()
        self.observer.checkpoint_saved(completed_stages, stage_iterations_done)


def _restore(recipe: Recipe, checkpoint: Checkpoint, run_dir: Path) -> tuple[int, int]:
    """Put the recipe back where the checkpoint was taken; returns (stage, first iteration) to run next."""
    folder = Path(run_dir) / files.CHECKPOINTS
    stage, done = checkpoint.completed_stages, checkpoint.stage_iterations_done
    if stage > recipe.num_stages() or (done > 0 and (stage == recipe.num_stages() or done >= recipe.iterations(stage))):
        raise RunStateError(f"the checkpoint in {folder} is at stage {stage}, iteration {done}, past this run's end; delete {folder} to restart training")
    try:
        recipe.load_state_dict(checkpoint.recipe_state)
    except (KeyError, ValueError, TypeError, RuntimeError, IndexError, AttributeError) as error:
        # load_state_dict's shape and key mismatches are RuntimeErrors; a hand-edited state is any of these.
        detail = " ".join(str(error).split())[:300]
        raise RunStateError(f"the checkpoint in {folder} does not fit this run ({type(error).__name__}: {detail}); delete {folder} to restart training") from None
    log.info("resuming %s at stage %d, iteration %d", run_dir, stage, done)
    return stage, done
