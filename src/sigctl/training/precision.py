"""The arithmetic of training steps: fp32, or bf16 autocast where the device computes bf16 natively.

Under bf16 autocast convolutions and matrix products run in bfloat16; losses (the critics' scores
are averaged in float32, ``sigctl.training.losses``), BatchNorm statistics, the optimiser and every
parameter stay float32. A run asking for bf16 where it is unsupported (``sigctl.core.precision``)
trains in fp32 with a warning. The stage setup (amplitudes, reconstructions) always runs in fp32.
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager, nullcontext

import torch

from sigctl.core.precision import Precision, bf16_unsupported_reason

log = logging.getLogger(__name__)


def effective_precision(requested: Precision, device: torch.device) -> Precision:
    """The precision a run asking for ``requested`` on ``device`` trains in."""
    if requested == "bf16":
        reason = bf16_unsupported_reason(device)
        if reason is not None:
            log.warning("precision bf16 was requested but %s; training in fp32", reason)
            return "fp32"
    return requested


def step_precision(precision: Precision, device: torch.device) -> AbstractContextManager:
    """The context a training step runs in: autocast to bf16, or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()
