"""An observer that stops a run where a test wants it stopped, as Ctrl-C would."""

from __future__ import annotations

from sigctl.training.loop import TrainingObserver


class Interrupt(TrainingObserver):
    """Raises KeyboardInterrupt after iteration ``iteration`` of ``stage`` ran, before it was checkpointed."""

    def __init__(self, stage: int, iteration: int):
        self.at = (stage, iteration)

    def step(self, stage, iteration):
        if (stage, iteration) == self.at:
            raise KeyboardInterrupt
