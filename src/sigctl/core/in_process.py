"""Running a model in process: the PyTorch executor of the request path, and plain sampling."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch

from sigctl.core.model import NoiseSpec
from sigctl.core.models.base import GenerativeModel
from sigctl.core.operations import MODE_SAMPLE, Request, execute
from sigctl.core.requests import RequestLimits
from sigctl.core.stages import Executor
from sigctl.core.torch_noise import unit_noise_on
from sigctl.errors import RequestError


@contextmanager
def _resource_errors() -> Iterator[None]:
    """PyTorch reports a failed allocation (CPU or CUDA) as a RuntimeError; it is a resource problem."""
    try:
        yield
    except RuntimeError as error:
        if "can't allocate memory" in str(error) or "out of memory" in str(error):
            raise MemoryError(str(error).splitlines()[0]) from None
        raise


class TorchExecutor(Executor):
    """Runs a model's stages with PyTorch, at the model's own precision (float32 normally, float64
    for exact reference tests), on the model's device: noise is made there and the state stays
    there between stages (only the final image is copied back)."""

    def __init__(self, model: GenerativeModel, reference: np.ndarray | None = None, recipe: str | None = None):
        self.model = model.eval()
        self.spec = model.spec(recipe or model.model_class)
        self._reference = reference
        like = model.reconstruction_input()
        self._device, self._dtype = like.device, like.dtype

    def _tensor(self, value: np.ndarray | torch.Tensor) -> torch.Tensor:
        if isinstance(value, torch.Tensor):
            return value.to(self._device, self._dtype)
        return torch.from_numpy(np.ascontiguousarray(value)).to(self._device, self._dtype)

    @torch.no_grad()
    def run_stage(self, stage: int, state: np.ndarray | torch.Tensor | None, noise: np.ndarray | torch.Tensor) -> torch.Tensor:
        with _resource_errors():
            previous = None if state is None else self._tensor(state)
            return self.model.run_stage(stage, previous, self._tensor(noise))

    @torch.no_grad()
    def upsample(self, state: np.ndarray | torch.Tensor) -> torch.Tensor:
        with _resource_errors():
            return self.model.upsample(self._tensor(state))

    def seeded_noise(self, noise: NoiseSpec, seeds: Sequence[int], stream: int, height: int, width: int) -> torch.Tensor:
        with _resource_errors():
            return unit_noise_on(noise, seeds, stream, height, width, self._device).to(self._dtype)

    def to_host(self, state: np.ndarray | torch.Tensor) -> np.ndarray:
        return state.cpu().numpy() if isinstance(state, torch.Tensor) else state

    @torch.no_grad()
    def state_to_rgb(self, state: np.ndarray | torch.Tensor) -> np.ndarray:
        if self.spec.to_rgb_graph() is None:
            return self.to_host(state)
        with _resource_errors():
            return self.to_host(self.model.to_rgb(self._tensor(state)))

    def reconstruction_input(self) -> np.ndarray:
        return self.model.reconstruction_input().detach().cpu().numpy()

    def reference(self) -> np.ndarray:
        if self._reference is None:
            raise RequestError("this operation needs the training image; load the model with sigctl.artifact.load")
        return self._reference


def sample_images(
    model: GenerativeModel,
    num_samples: int,
    seed: int,
    height: int | None = None,
    width: int | None = None,
    start_scale: int = 0,
    limits: RequestLimits = RequestLimits(),
) -> np.ndarray:
    """Validated, batched sampling: NxHxWx3 uint8, sample i drawn with seed ``seed + i``.

    Height and width default to the training size.
    """
    request = Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale)
    return execute(TorchExecutor(model), request, limits)
