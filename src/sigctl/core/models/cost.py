"""What a sample costs: multiply-accumulates per stage, counted on the real forward pass.

Counted with hooks on every convolution (and every dilated involution's per-position aggregation:
K x K multiply-adds per output value) while one sample runs through the request path, so the count
is right for any model of the family (unpadded layers, margins, concurrent stages) without a
formula per architecture.
"""

from __future__ import annotations

import torch
from torch import nn

from sigctl.core.in_process import TorchExecutor
from sigctl.core.models.dilated_involution import DilatedInvolution
from sigctl.core.stages import entering_state, stage_sizes, unit_noise


@torch.no_grad()
def stage_macs(model: nn.Module, height: int | None = None, width: int | None = None) -> list[int]:
    """MACs of each stage (the to-RGB map counted with the last) for one sample of height x width."""
    executor = TorchExecutor(model)
    spec = executor.spec
    height, width = height or spec.layout.finest_size[0], width or spec.layout.finest_size[1]
    counted = [0]

    def count(layer: nn.Conv2d, _inputs, output: torch.Tensor) -> None:
        per_output = layer.in_channels // layer.groups * layer.kernel_size[0] * layer.kernel_size[1]
        counted[0] += output[0].numel() * per_output

    def count_involution(layer: DilatedInvolution, _inputs, output: torch.Tensor) -> None:
        counted[0] += output[0].numel() * layer.kernel_size * layer.kernel_size

    hooks = [layer.register_forward_hook(count) for layer in model.modules() if isinstance(layer, nn.Conv2d)]
    hooks += [layer.register_forward_hook(count_involution) for layer in model.modules() if isinstance(layer, DilatedInvolution)]
    try:
        sizes = stage_sizes(executor, height, width)
        state = entering_state(executor, 0, 1, sizes)
        macs = []
        for stage in range(spec.num_stages):
            counted[0] = 0
            state = executor.run_stage(stage, state, unit_noise(spec.noises[stage], 0, stage, *sizes[stage])[None])
            if stage == spec.num_stages - 1:
                executor.state_to_rgb(state)
            macs.append(counted[0])
        return macs
    finally:
        for hook in hooks:
            hook.remove()
