"""Hand-initialised pyramids: weights from a fixed formula, no training, so outputs are known by construction."""

from __future__ import annotations

import math

import numpy as np
import torch

from sigctl.config import NetworkSettings
from sigctl.core.noise import scale_noise
from sigctl.core.models.singan import SinGANModel
from sigctl.core.scales import PyramidLayout

LAYOUT = PyramidLayout(sizes=((16, 21), (21, 27), (27, 35)), scale_factor=1.3, size_rounding="ceil")
NETWORK = NetworkSettings(base_channels=4, max_channels=4, num_blocks=3)
AMPLITUDES = (1.0, 0.3, 0.15)


def formula_pyramid(dtype: torch.dtype = torch.float64, zero_residual: bool = False) -> SinGANModel:
    """Every parameter and BatchNorm statistic from sin(); z* from the hash noise (seed 12345).

    With ``zero_residual`` each generator's last conv is zero, so every scale passes its input
    through unchanged (tanh(0) = 0): the pyramid is then exactly a chain of upsamplings.
    """
    pyramid = SinGANModel.with_scales(LAYOUT, NETWORK, AMPLITUDES)
    with torch.no_grad():
        for index, (name, tensor) in enumerate(sorted(pyramid.generators.state_dict().items())):
            if tensor.dtype != torch.float32:
                continue  # BatchNorm's num_batches_tracked
            values = torch.arange(tensor.numel(), dtype=torch.float64)
            if name.endswith("running_var"):
                formula = 1.0 + 0.2 * torch.sin(0.9 * values + index).abs()
            elif name.endswith("running_mean"):
                formula = 0.05 * torch.sin(1.7 * values + index)
            elif name.endswith(".weight") and tensor.ndim == 1:  # BatchNorm scale
                formula = 1.0 + 0.1 * torch.sin(0.5 * values + index)
            else:
                formula = 0.15 * torch.sin(0.37 * values + 1.3 * index) * math.cos(index)
            tensor.copy_(formula.reshape(tensor.shape))
        if zero_residual:
            for generator in pyramid.generators:
                last = generator.body[-1]
                last.weight.zero_()
                last.bias.zero_()
        pyramid.reconstruction_noise.copy_(torch.from_numpy(scale_noise(12345, 0, *LAYOUT.sizes[0], single_channel=True))[None])
    return pyramid.to(dtype).eval()


def gradient_image(height: int, width: int) -> np.ndarray:
    """An HxWx3 uint8 picture with structure in every channel (a stand-in painting)."""
    y, x = np.mgrid[0:height, 0:width]
    channels = [(x * 255 // max(1, width - 1)), (y * 255 // max(1, height - 1)), ((x + y) % 64) * 4]
    return np.stack(channels, axis=-1).astype(np.uint8)
