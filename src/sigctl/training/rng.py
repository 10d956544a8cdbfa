"""torch's random stream during training: seeded per stage, saved and restored inside one.

torch's generator draws the weight init and the gradient penalty's mix (the training noise is
hash noise, ``sigctl.training.noise``, and needs no generator state). A stage starts from a seed
that depends only on (training seed, stage), so a run resumed at a stage boundary equals an
uninterrupted one; a run resumed inside a stage restores the generator's exact state instead.
"""

from __future__ import annotations

import torch


def stage_seed(seed: int, stage: int) -> int:
    return seed * 10_007 + stage


def seed_stage(seed: int, stage: int) -> None:
    """Seed torch's CPU and CUDA generators for the start of ``stage``."""
    torch.manual_seed(stage_seed(seed, stage))


def rng_state(device: torch.device) -> dict[str, torch.Tensor]:
    """The generator state that the rest of the stage will draw from (CPU, and ``device``'s if CUDA)."""
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def restore_rng_state(state: dict[str, torch.Tensor], device: torch.device) -> None:
    torch.set_rng_state(state["cpu"].cpu())
    if device.type == "cuda":
        if "cuda" not in state:
            raise ValueError("the saved random state has no CUDA generator, and this run trains on CUDA")
        torch.cuda.set_rng_state(state["cuda"].cpu(), device)
