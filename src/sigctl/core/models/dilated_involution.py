"""The dilated involution of seed 004 (eq. 3-4), and the layer the involution generator is built of.

Involution (Li et al., CVPR 2021) inverts convolution's sharing: the K x K kernel is shared across
the channels of a group but differs per position, generated from that position's own features by
``phi`` = 1x1 conv -> InstanceNorm -> ReLU -> 1x1 conv (C -> C / r -> K*K*G). Seed 004 spreads its
taps ``dilation`` px apart:

    Y[n, k, i, j] = sum_{u, v in 0..K-1} H[n, g(k), u, v, i, j] * X[n, k, i + u d, j + v d]

over an unpadded input (the output is ``d (K - 1)`` px smaller, as an unpadded convolution's), with
``g(k) = floor(k G / C)`` (contiguous channel groups) and ``H[n, :, :, :, i, j] = phi(X)`` read at
the window's centre ``(i + d (K - 1) / 2, j + ...)``: the paper's centred indices, shifted so the
output starts at the first full window.

It is written as a sum over the K*K shifted, dilated slices of the input, not with ``unfold``: a
slice and a broadcast multiply per tap export to ONNX and TorchScript with dynamic sizes and run in
onnxruntime unchanged.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

Padding = Literal["block", "layer"]
PADDINGS: tuple[Padding, ...] = ("block", "layer")


def check_groups(channels: int, groups: int) -> None:
    """The one rule on groups: each is a contiguous run of ``channels / groups`` channels."""
    if groups < 1 or channels % groups:
        raise ValueError(f"{channels} channels cannot be split into {groups} involution groups; use a divisor of {channels}")


def involve(inputs: torch.Tensor, kernels: torch.Tensor, kernel_size: int, dilation: int, groups: int) -> torch.Tensor:
    """The aggregation of eq. 3: per-position kernels applied to an unpadded input.

    Args:
        inputs: (N, C, H, W), C a multiple of ``groups``.
        kernels: (N, G * K * K, H - s, W - s) with s = dilation * (K - 1), channel ``g * K * K + u * K
            + v`` holding group g's tap (u, v).
    Returns:
        (N, C, H - s, W - s).
    """
    span = dilation * (kernel_size - 1)
    batch, _, height, width = inputs.shape
    grouped = inputs.reshape(batch, groups, -1, height, width)
    taps = kernels.reshape(batch, groups, kernel_size * kernel_size, height - span, width - span)
    total = None
    for u in range(kernel_size):
        rows = slice(u * dilation, (u * dilation - span) or None)
        for v in range(kernel_size):
            columns = slice(v * dilation, (v * dilation - span) or None)
            tap = u * kernel_size + v
            # (N, G, C/G, h, w) x (N, G, 1, h, w): the group's kernel broadcast over its channels.
            term = grouped[:, :, :, rows, columns] * taps[:, :, tap : tap + 1]
            total = term if total is None else total + term
    return total.reshape(batch, -1, height - span, width - span)


class DilatedInvolution(nn.Module):
    """One dilated involution over ``channels`` channels (channels in = channels out).

    Args:
        channels: C, a multiple of ``groups``.
        kernel_size: K, odd.
        dilation: d >= 1, px between taps.
        groups: G; the channels of a group share a kernel.
        reduction: r; phi's hidden width is max(1, C // r).
        padding: ``"block"``: unpadded, the output is ``border = d (K - 1) / 2`` px smaller per side
            (the stage pads once for its whole block, as ConSinGAN's convolutions); ``"layer"``: the
            layer zero-pads its own input by that much and keeps the size (``border`` 0).
    """

    def __init__(self, channels: int, kernel_size: int = 3, dilation: int = 3, groups: int = 4, reduction: int = 1, padding: Padding = "block"):
        super().__init__()
        if kernel_size < 1 or kernel_size % 2 == 0:
            raise ValueError(f"involution kernel_size is {kernel_size}; it must be a positive odd number (the window is centred)")
        if dilation < 1:
            raise ValueError(f"involution dilation is {dilation}; it must be at least 1")
        check_groups(channels, groups)
        if reduction < 1:
            raise ValueError(f"involution reduction is {reduction}; it must be at least 1")
        if padding not in PADDINGS:
            raise ValueError(f"involution padding is {padding!r}; valid paddings are {', '.join(PADDINGS)}")
        self.kernel_size, self.dilation, self.groups, self.padding = kernel_size, dilation, groups, padding
        self.reach = dilation * (kernel_size - 1) // 2
        self.border = self.reach if padding == "block" else 0
        hidden = max(1, channels // reduction)
        self.kernel_net = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.InstanceNorm2d(hidden, affine=True),
            nn.ReLU(),
            nn.Conv2d(hidden, groups * kernel_size * kernel_size, 1),
        )

    def kernels(self, inputs: torch.Tensor) -> torch.Tensor:
        """phi at every window centre of an (already padded) input: (N, G*K*K, H - 2 reach, W - 2 reach)."""
        reach = self.reach
        centres = inputs[:, :, reach : (-reach or None), reach : (-reach or None)]
        return self.kernel_net(centres)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.padding == "layer" and self.reach:
            inputs = F.pad(inputs, (self.reach,) * 4)
        return involve(inputs, self.kernels(inputs), self.kernel_size, self.dilation, self.groups)


class InvolutionBlock(nn.Sequential):
    """Dilated involution -> 1x1 conv (C -> out) -> [BatchNorm] -> LeakyReLU: seed 004's replacement
    for a 3x3 conv block; the 1x1 conv "projects and fuses the channels" the involution keeps apart."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, dilation: int, groups: int, reduction: int,
        padding: Padding, leaky_slope: float, batch_norm: bool, activation: bool = True,
    ):
        super().__init__()
        self.add_module("involution", DilatedInvolution(in_channels, kernel_size, dilation, groups, reduction, padding))
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, 1))
        if batch_norm:
            self.add_module("norm", nn.BatchNorm2d(out_channels))
        if activation:
            self.add_module("lrelu", nn.LeakyReLU(leaky_slope))
        self.border = self.involution.border
