"""Training a person can watch: losses and sample grids as TensorBoard event files.

``losses.jsonl`` stays the canonical log; the event files (in ``RUN/tensorboard/``) are for
watching a run live: ``tensorboard --logdir runs/NAME/tensorboard``. Needs the ``watch`` extra
(TensorBoard's writer, which ``torch.utils.tensorboard`` uses).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from sigctl.core.noise import scale_noise
from sigctl.core.pixels import make_grid, to_uint8
from sigctl.core.pyramid import Pyramid
from sigctl.errors import SettingsError
from sigctl.training.loop import TrainingObserver

TENSORBOARD_DIR = "tensorboard"
PREVIEW_SAMPLES = 4
SAMPLES_TAG = "samples"  # the reconstruction first, then PREVIEW_SAMPLES samples (seeds 0..)


class TensorBoardObserver(TrainingObserver):
    """Every step's losses as scalars (``loss/NAME``, x = iterations over the whole run) and, at the
    end of every stage, a grid of the reconstruction and a few samples at that stage's size."""

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

    def step(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        for name, value in losses.items():
            self.writer.add_scalar(f"loss/{name}", value, self._offsets[stage] + iteration)

    def stage_preview(self, stage: int, pyramid: Pyramid) -> None:
        grid = make_grid([reconstruction_image(pyramid), *preview_samples(pyramid, self.preview_samples)])
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

    def run_started(self, num_stages: int, first_stage: int, iterations: list[int]) -> None:
        for observer in self.observers:
            observer.run_started(num_stages, first_stage, iterations)

    def stage_started(self, stage: int) -> None:
        for observer in self.observers:
            observer.stage_started(stage)

    def step(self, stage: int, iteration: int, losses: dict[str, float]) -> None:
        for observer in self.observers:
            observer.step(stage, iteration, losses)

    def stage_preview(self, stage: int, pyramid: Pyramid) -> None:
        for observer in self.observers:
            observer.stage_preview(stage, pyramid)

    def stage_finished(self, stage: int) -> None:
        for observer in self.observers:
            observer.stage_finished(stage)


@torch.no_grad()
def preview_samples(pyramid: Pyramid, count: int, seed: int = 0) -> list[np.ndarray]:
    """Samples of a pyramid still in training (its trained scales only), at the finest trained size."""
    sizes = pyramid.layout.sizes[: pyramid.num_trained]
    like = pyramid.reconstruction_noise
    noises = [
        torch.from_numpy(np.stack([scale_noise(seed + i, scale, *size, single_channel=scale == 0) for i in range(count)])).to(like.device, like.dtype)
        for scale, size in enumerate(sizes)
    ]
    images = pyramid.run(torch.zeros(count, 3, *sizes[0], device=like.device, dtype=like.dtype), noises)
    return list(to_uint8(images.cpu().numpy()))


def reconstruction_image(pyramid: Pyramid) -> np.ndarray:
    return to_uint8(pyramid.reconstruct()[0].cpu().numpy())
