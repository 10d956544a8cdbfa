"""The per-scale patch discriminator (Markovian: an 11x11 receptive field with the defaults)."""

from __future__ import annotations

import torch
from torch import nn

from sigctl.config import NetworkSettings
from sigctl.core.generator import conv_body, init_weights


class PatchDiscriminator(nn.Module):
    """Same body as the generator with one output channel; the score is the map's mean."""

    def __init__(self, channels: int, settings: NetworkSettings):
        super().__init__()
        self.body = conv_body(1, channels, settings)
        init_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.body(image)
