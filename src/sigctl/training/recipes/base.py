"""What a recipe must provide to the shared training loop.

The loop owns iteration counting, progress, loss logging, checkpoints and resume; a recipe owns
what happens inside a stage. A stage is one progressive step (a SinGAN scale, a ConSinGAN
growth step, or the single stage of an end-to-end recipe).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import torch

from sigctl.config import TrainSettings
from sigctl.core.models.singan import SinGANModel


@dataclass
class TrainingContext:
    """Everything a recipe trains from."""

    settings: TrainSettings
    pyramid: SinGANModel
    reals: list[torch.Tensor]  # the real image at each scale, 1x3xHxW in [-1, 1]
    device: torch.device


class Recipe(ABC):
    def __init__(self, context: TrainingContext):
        self.context = context
        self.settings = context.settings

    @abstractmethod
    def num_stages(self) -> int:
        """How many stages the loop runs."""

    @abstractmethod
    def iterations(self, stage: int) -> int:
        """Iterations of ``stage``."""

    @abstractmethod
    def begin_stage(self, stage: int) -> None:
        """Build networks and optimisers for ``stage``."""

    @abstractmethod
    def step(self, iteration: int) -> dict[str, float]:
        """One training iteration; returns named losses for logs and the progress bar."""

    @abstractmethod
    def end_stage(self) -> None:
        """Freeze what the stage trained into the pyramid."""

    def extra_state(self) -> dict[str, torch.Tensor]:
        """Tensors besides the pyramid that a resumed run needs (checkpointed after each stage)."""
        return {}

    def load_extra_state(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what ``extra_state`` saved."""
