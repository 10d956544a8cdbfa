"""Losses of the iterations since the last log point, summed on the device and read once.

Reading a value back (``.item()``) waits for the device to finish all queued work; doing it every
iteration would stall a GPU between steps. So the window sums the step's loss tensors where they
are and ``close`` reads all of them in one transfer.

The sums are float64, each step's float32 value added exactly as Python added the ``.item()``
floats before, so the loss log is the same to the last bit as when every step was read.
"""

from __future__ import annotations

import torch


class LossWindow:
    def __init__(self) -> None:
        self._sums: dict[str, torch.Tensor] = {}
        self.count = 0

    def add(self, losses: dict[str, torch.Tensor]) -> None:
        for name, value in losses.items():
            value = value.detach().to(torch.float64)
            self._sums[name] = value if name not in self._sums else self._sums[name] + value
        self.count += 1

    def close(self) -> dict[str, float]:
        """The mean of each loss over the window (one device sync); the window starts empty again."""
        names = list(self._sums)
        means = torch.stack([self._sums[name] for name in names]).div(self.count).tolist() if names else []
        self._sums, self.count = {}, 0
        return dict(zip(names, means))
