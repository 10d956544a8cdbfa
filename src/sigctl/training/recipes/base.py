"""What a recipe must provide to the shared training loop.

The loop owns iteration counting, progress, loss logging (one device sync per log window),
checkpoints and resume; a recipe owns its model, what happens inside a stage, and a state that
resumes it exactly. A stage is one progressive step (a SinGAN scale, a ConSinGAN growth step, or
the single stage of an end-to-end recipe).

The loop calls, for each stage it runs: ``begin_stage`` (after seeding torch for the stage), then
``step`` once per iteration, then ``end_stage``; between any two of these calls it may call
``state_dict``, and a resumed run calls ``load_state_dict`` instead of replaying what came before.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from sigctl.config import TrainSettings
from sigctl.core.scales import PyramidLayout


@dataclass
class TrainingContext:
    """Everything a recipe trains from."""

    settings: TrainSettings
    layout: PyramidLayout  # the stage sizes planned for the training image
    reals: list[torch.Tensor]  # the real image at each stage, 1x3xHxW in [-1, 1]
    device: torch.device
    # The source image above the training size, 1x3xHxW in [-1, 1], where the settings ask for one
    # (``high_resolution_size``: PetsGAN's upsampler targets) and the source is larger; else None.
    high_resolution: torch.Tensor | None = None


class Recipe(ABC):
    """A training algorithm: builds its model in ``__init__`` (``self.model``) and trains it stage by stage."""

    def __init__(self, context: TrainingContext):
        self.context = context
        self.settings = context.settings
        self.model: nn.Module = self.build_model()

    @classmethod
    @abstractmethod
    def untrained_model(cls, settings: TrainSettings, layout: PyramidLayout) -> nn.Module:
        """The whole model these settings train, every stage present and untrained (for plans and costs)."""

    @abstractmethod
    def build_model(self) -> nn.Module:
        """The untrained model, on the context's device; the loop saves it as the artifact at the end."""

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
    def step(self, iteration: int) -> dict[str, torch.Tensor]:
        """One training iteration; returns named losses as tensors on the device, detached.

        Never read a value back here (no ``.item()``): the loop sums the losses where they are
        and syncs once per log window.
        """

    @abstractmethod
    def end_stage(self) -> None:
        """Freeze what the stage trained into the model."""

    @abstractmethod
    def state_dict(self) -> dict[str, Any]:
        """Everything a bit-identical resume from this point needs, as a nested value of tensors,
        numbers, strings and containers (``sigctl.training.state_tree`` stores it without pickles).

        Inside a stage that includes the stage's networks, optimisers, schedulers, torch's random
        state and any draw counters; between stages, what later stages read (the model so far).
        """

    @abstractmethod
    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Return to the point ``state_dict`` was taken at; the next call is then ``step`` (inside
        a stage) or ``begin_stage`` (between stages)."""
