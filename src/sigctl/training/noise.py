"""Training noise: the same hash noise that sampling and serving use, drawn from a training stream.

A generator should be trained on the distribution it is sampled with. Sampling uses
``sigctl.core.noise`` (a sum of four uniforms, bounded at about +-3.5 sigma), so training draws
from it too instead of ``torch.randn``. Every draw has its own noise seed, a pure function of
(training seed, stage, draw number): a resumed stage replays exactly the draws it had.
"""

from __future__ import annotations

import hashlib

import torch

from sigctl.core.noise import MAX_SEED
from sigctl.core.torch_noise import scale_noise_on


def training_noise_seed(training_seed: int, stage: int, draw: int) -> int:
    """The noise seed of draw number ``draw`` of ``stage``, in [0, 2**63)."""
    digest = hashlib.blake2b(f"sigctl-training:{training_seed}:{stage}:{draw}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") & MAX_SEED


class TrainingNoise:
    """The noise one training stage draws, draw after draw.

    A *draw* is the noise of one random sample: unit noise at every scale it passes, told apart
    by the scale index, as a served sample is (``sigctl.core.operations.run_seeded``).
    """

    def __init__(self, training_seed: int, stage: int, device: torch.device):
        self.training_seed = training_seed
        self.stage = stage
        self.device = device
        self.draws = 0

    def next_seed(self) -> int:
        seed = training_noise_seed(self.training_seed, self.stage, self.draws)
        self.draws += 1
        return seed

    def at(self, seed: int, scale: int, size: tuple[int, int]) -> torch.Tensor:
        """1x3xHxW unit noise of draw ``seed`` at ``scale``; the coarsest scale repeats one channel."""
        # Made on the training device (the same bits as sigctl.core.noise anywhere).
        return scale_noise_on(seed, scale, size[0], size[1], scale == 0, self.device)[None].to(self.device)

    def sample_noises(self, sizes: list[tuple[int, int]]) -> list[torch.Tensor]:
        """One new draw: unit noise for scales 0..len(sizes)-1."""
        seed = self.next_seed()
        return [self.at(seed, scale, size) for scale, size in enumerate(sizes)]
