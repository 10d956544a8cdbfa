"""A toy recipe for testing the loop contract: two stages of one 1x1 conv each, milliseconds per run.

Everything a resume must restore changes its numbers: torch's random stream (the input noise),
Adam's moments and step counts, the lr schedule (a drop halfway through each stage), a draw
counter of its own (it scales the target), and the stages trained so far (stage 1 adds to
stage 0's output).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from sigctl.config import SinGANSettings
from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.rng import restore_rng_state, rng_state

from ..handmade import LAYOUT

CPU = torch.device("cpu")
READS = {"item", "tolist", "cpu", "numpy", "__float__", "__int__", "__index__", "__bool__", "__format__", "__repr__", "__array__"}


class ReadRecordingTensor(torch.Tensor):
    """A tensor that logs every read back to the host, with the toy's position at that moment."""

    reads: list[tuple[int, int]] = []
    position: tuple[int, int] = (-1, -1)

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, "__name__", "")
        moves = name == "to" and any(isinstance(a, (torch.device, str)) for a in (*args[1:], *kwargs.values()))
        if name in READS or moves:
            cls.reads.append(cls.position)
        return super().__torch_function__(func, types, args, kwargs)


def toy_context(iterations: int = 300) -> TrainingContext:
    settings = SinGANSettings(optimizer={"iterations_per_scale": iterations})
    targets = torch.Generator().manual_seed(1)
    reals = [torch.rand(1, 3, 4, 4, generator=targets) * 2 - 1 for _ in range(2)]
    return TrainingContext(settings=settings, layout=LAYOUT, reals=reals, device=CPU)


class ToyRecipe(Recipe):
    record_reads = False

    def __init__(self, context: TrainingContext):
        super().__init__(context)
        self.stage_in_progress: int | None = None

    @classmethod
    def untrained_model(cls, settings, layout) -> nn.ModuleList:
        return nn.ModuleList()

    def build_model(self) -> nn.ModuleList:
        return nn.ModuleList()

    def num_stages(self) -> int:
        return 2

    def iterations(self, stage: int) -> int:
        return self.settings.optimizer.iterations_per_scale

    def begin_stage(self, stage: int) -> None:
        self.stage_in_progress, self.draws = stage, 0
        self.layer = nn.Conv2d(3, 3, 1)
        self.optimizer = torch.optim.Adam(self.layer.parameters(), lr=0.05)
        self.scheduler = torch.optim.lr_scheduler.MultiStepLR(self.optimizer, [self.iterations(stage) // 2], gamma=0.1)

    def step(self, iteration: int) -> dict[str, torch.Tensor]:
        stage = self.stage_in_progress
        noise = torch.randn(1, 3, 4, 4)
        self.draws += 1
        below = self.model[0](noise).detach() if stage > 0 else 0.0
        loss = F.mse_loss(self.layer(noise) + below, self.context.reals[stage] * (1 + 1e-3 * self.draws))
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.scheduler.step()
        losses = {"loss": loss.detach(), "lr": torch.tensor(self.optimizer.param_groups[0]["lr"])}
        if self.record_reads:
            ReadRecordingTensor.position = (stage, iteration)
            losses = {name: value.as_subclass(ReadRecordingTensor) for name, value in losses.items()}
        return losses

    def end_stage(self) -> None:
        self.model.append(self.layer.requires_grad_(False))
        self.stage_in_progress = None

    def state_dict(self) -> dict[str, Any]:
        state: dict[str, Any] = {"model": self.model.state_dict(), "trained": len(self.model), "stage_in_progress": self.stage_in_progress}
        if self.stage_in_progress is not None:
            state["stage"] = {
                "layer": self.layer.state_dict(),
                "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "draws": self.draws,
                "rng": rng_state(CPU),
            }
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.model = nn.ModuleList(nn.Conv2d(3, 3, 1).requires_grad_(False) for _ in range(state["trained"]))
        self.model.load_state_dict(state["model"])
        self.stage_in_progress = state["stage_in_progress"]
        if self.stage_in_progress is not None:
            saved = state["stage"]
            self.begin_stage(self.stage_in_progress)
            self.layer.load_state_dict(saved["layer"])
            self.optimizer.load_state_dict(saved["optimizer"])
            self.scheduler.load_state_dict(saved["scheduler"])
            self.draws = saved["draws"]
            restore_rng_state(saved["rng"], CPU)
