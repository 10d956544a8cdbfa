"""Whether this machine computes bf16 natively: the one test training and serving both ask.

bf16 autocast runs convolutions and matrix products in bfloat16 (8 significant bits) and keeps
the rest in float32. On a CPU with AVX-512 BF16 (or AMX) oneDNN's bf16 convolutions do twice the
multiply-adds per instruction; on a CPU without them PyTorch emulates bf16 and is *slower* than
fp32. So bf16 is used only where the instructions exist. Imports torch: the torch-free serving
path never imports this module (only its TorchScript engine does).
"""

from __future__ import annotations

import os
from typing import Literal

import torch

Precision = Literal["fp32", "bf16"]
PRECISIONS: tuple[str, ...] = ("fp32", "bf16")

# "0" forces the no-bf16 path (as on a CPU without the instructions), "1" claims them; unset: ask oneDNN.
CPU_BF16_ENV = "SIGCTL_CPU_BF16"


def cpu_has_bf16() -> bool:
    """Whether this CPU runs bf16 convolutions natively (AVX-512 BF16 or AMX), as oneDNN sees it."""
    forced = os.environ.get(CPU_BF16_ENV)
    if forced in ("0", "1"):
        return forced == "1"
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a build without oneDNN
        return False


def bf16_unsupported_reason(device: torch.device) -> str | None:
    """Why ``device`` should not compute in bf16, or None where it should."""
    if device.type == "cuda":
        return None if torch.cuda.is_bf16_supported() else "this GPU has no bf16 support"
    if device.type == "cpu":
        return None if cpu_has_bf16() else "this CPU has no bf16 instructions (AVX-512 BF16 or AMX), where bf16 would be slower than fp32"
    return f"bf16 is not supported on {device.type}"
