"""The per-scale SinGAN generator and the conv blocks it shares with the discriminator."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sigctl.core.models.singan_config import NetworkSettings

_TORCH_PAD_MODES = {"zero": "constant", "replicate": "replicate", "circular": "circular"}


class ConvBlock(nn.Sequential):
    """Unpadded Conv -> BatchNorm -> LeakyReLU."""

    def __init__(self, in_channels: int, out_channels: int, settings: NetworkSettings):
        super().__init__(
            nn.Conv2d(in_channels, out_channels, settings.kernel_size),
            nn.BatchNorm2d(out_channels),
            nn.LeakyReLU(settings.leaky_relu_slope),
        )


def conv_body(out_channels: int, channels: int, settings: NetworkSettings) -> nn.Sequential:
    """head block, (num_blocks - 2) body blocks, and a plain output conv (no padding anywhere)."""
    blocks = [ConvBlock(3, channels, settings)]
    blocks += [ConvBlock(channels, channels, settings) for _ in range(settings.num_blocks - 2)]
    blocks.append(nn.Conv2d(channels, out_channels, settings.kernel_size))
    return nn.Sequential(*blocks)


def receptive_padding(settings: NetworkSettings) -> int:
    """Pixels each unpadded conv stack eats from each border; the input is padded by this once."""
    return settings.num_blocks * (settings.kernel_size - 1) // 2


def generator_macs(channels: int, settings: NetworkSettings, height: int, width: int) -> int:
    """Multiply-accumulates of one generator pass at height x width (input padded, convs unpadded)."""
    k = settings.kernel_size
    layer_channels = [3] + [channels] * (settings.num_blocks - 1) + [3]
    size_h, size_w = height + 2 * receptive_padding(settings), width + 2 * receptive_padding(settings)
    total = 0
    for cin, cout in zip(layer_channels, layer_channels[1:]):
        size_h, size_w = size_h - (k - 1), size_w - (k - 1)
        total += size_h * size_w * k * k * cin * cout
    return total


def init_weights(module: nn.Module) -> None:
    """SinGAN's init: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), biases 0."""
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


class ScaleGenerator(nn.Module):
    """x_n = G(z_n * amp_n + up(x_{n-1})) + up(x_{n-1}), same size out as in."""

    def __init__(self, channels: int, settings: NetworkSettings):
        super().__init__()
        self.padding = receptive_padding(settings)
        self.pad_mode = _TORCH_PAD_MODES[settings.padding_mode]
        self.body = conv_body(3, channels, settings)
        init_weights(self)

    def forward(self, scaled_noise: torch.Tensor, previous: torch.Tensor) -> torch.Tensor:
        p = self.padding
        padded = F.pad(scaled_noise + previous, (p, p, p, p), mode=self.pad_mode)
        return torch.tanh(self.body(padded)) + previous
