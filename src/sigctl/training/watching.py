"""Training a person can watch: losses and sample grids as TensorBoard event files.

``losses.jsonl`` stays the canonical log; the event files (in ``RUN/tensorboard/``) are for
watching a run live: ``tensorboard --logdir runs/NAME/tensorboard``. Needs the ``watch`` extra
(TensorBoard's writer, which ``torch.utils.tensorboard`` uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from torch import nn

from sigctl.core.in_process import TorchExecutor
from sigctl.core.operations import Request, execute
from sigctl.core.pixels import make_grid, to_uint8
from sigctl.errors import SettingsError
from sigctl.training.stage_loop import TrainingObserver

TENSORBOARD_DIR = "tensorboard"
PREVIEW_SAMPLES = 4
SAMPLES_TAG = "samples"  # the reconstruction first, then PREVIEW_SAMPLES samples (seeds 0..)


class TensorBoardObserver(TrainingObserver):
    """Every log window's losses as scalars (``loss/NAME``, x = iterations over the whole run) and,
    at the end of every stage, a grid of the reconstruction and a few samples at that stage's size."""

    def __init__(self, log_dir: Path, preview_samples: int = PREVIEW_SAMPLES):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            raise SettingsError("--tensorboard needs TensorBoard: pip install -e '.[watch]' (or make install)") from None
        self._writer_class = SummaryWriter
        self.log_dir = Path(log_dir)
        self.preview_samples = preview_samples
        self.writer = None
        self._offsets: list[int] = []
        self._iterations: list[int] = []

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None:
        # Opened here, not in __init__: the loop first checks the run directory is new or empty.
        self.writer = self._writer_class(log_dir=str(self.log_dir))
        self._offsets = [sum(iterations[:stage]) for stage in range(num_stages)]
        self._iterations = list(iterations)

    def window_closed(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        # Once per log window: the loop reads losses back from the device only then.
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, self._offsets[stage] + iteration)

    def stage_preview(self, stage: int, model: nn.Module) -> None:
        grid = make_grid(preview_images(model, self.preview_samples))
        # At the stage's last step, so the grid lines up with the losses that made it.
        self.writer.add_image(SAMPLES_TAG, grid, self._offsets[stage] + self._iterations[stage] - 1, dataformats="HWC")

    def stage_finished(self, stage: int) -> None:
        self.writer.flush()  # a person watching sees each stage as soon as it ends

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


class Observers(TrainingObserver):
    """Several observers as one: each hook is called on each, in order."""

    def __init__(self, *observers: TrainingObserver):
        self.observers = observers

    def _each(self, hook: str, *args) -> None:
        for observer in self.observers:
            getattr(observer, hook)(*args)

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None:
        self._each("run_started", num_stages, first_stage, iterations)

    def stage_started(self, stage: int, first_iteration: int = 0) -> None:
        self._each("stage_started", stage, first_iteration)

    def step(self, stage: int, iteration: int) -> None:
        self._each("step", stage, iteration)

    def window_closed(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        self._each("window_closed", stage, iteration, losses)

    def checkpoint_saved(self, completed_stages: int, stage_iterations_done: int) -> None:
        self._each("checkpoint_saved", completed_stages, stage_iterations_done)

    def stage_preview(self, stage: int, model: nn.Module) -> None:
        self._each("stage_preview", stage, model)

    def stage_finished(self, stage: int) -> None:
        self._each("stage_finished", stage)


@torch.no_grad()
def preview_images(model: nn.Module, count: int, seed: int = 0) -> list[np.ndarray]:
    """The reconstruction, then ``count`` samples (seeds seed..), of a model still in training, at
    the size of its newest stage: through the request path, as any sample."""
    executor = TorchExecutor(model)
    reconstruction = to_uint8(executor.reconstruction()[0])
    return [reconstruction, *execute(executor, Request("sample", seed=seed, num_samples=count))]
