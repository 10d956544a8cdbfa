"""The bottom of the request path: a request, the executor that runs a model's stages, and the
stage loop every mode builds on.

An executor runs a model's graphs (PyTorch in process, onnxruntime when served) and makes the
seeded noise where they run; everything else (sizes, injected images, masks, super-resolution steps,
animation walks) happens in numpy in the mode modules above this one, so in-process and served
results can only differ by the graphs' float rounding. The state between stages stays in the
executor's own form (a tensor on its device) from the first stage to the image: only noise and
injected inputs go in, and only the final image comes out. What the stages are comes from the model's ``ModelSpec``. numpy only: the serving
runtime imports this module.

The request path runs one way: ``operations`` (the dispatcher) -> the mode modules (``sampling``,
``injection``, ``animation``, ``super_resolution``) -> this module -> ``model``, ``noise``, ``scales``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from sigctl.core.model import ModelSpec, NoiseSpec
from sigctl.core.noise import seeded_normal
from sigctl.core.pixels import resize
from sigctl.core.requests import MODE_SAMPLE, upsampler_runs
from sigctl.core.scales import PyramidLayout, request_sizes
from sigctl.errors import RequestCancelled

Cancelled = Callable[[], bool]  # True once nobody waits for the answer any more (client gone, deadline passed)


@dataclass(frozen=True)
class Request:
    """One request, as the CLI, the Python API and the served model's inputs all express it.

    ``None`` means "the mode's default" (documented per mode in the README).
    """

    mode: str = MODE_SAMPLE
    seed: int = 0
    num_samples: int = 1
    height: int | None = None
    width: int | None = None
    start_scale: int | None = None
    image: np.ndarray | None = None  # HxWx3 uint8 injected image
    mask: np.ndarray | None = None  # HxW uint8, > 127 marks the region to regenerate
    quantize_colors: int = 0  # paint: map the painting to this many colours of the training image (0: off)
    mask_dilation: int = 5  # edit/harmonize: grow the mask by this many px
    mask_blur: int = 5  # edit/harmonize: soften the mask edge over about this many px
    sr_factor: float | None = None
    frames: int = 30
    walk_strength: float = 0.1  # animate: share of fresh noise per frame
    anchor: float = 0.1  # animate: pull towards the reconstruction noise per frame
    upscale: int = 1  # sample/animate/style: generate at the size / upscale, then run the learned x2 upsampler log2(upscale) times


def unit_noise(noise: NoiseSpec, seed: int, stream: int, height: int, width: int) -> np.ndarray:
    """A stage's unit noise for an output stage size of height x width: (channels, h + 2m, w + 2m).

    ``stream`` tells apart the noises one seed makes (the stage index when sampling). Values at
    (channel, y, x) do not depend on the size, so a larger request extends a smaller one.
    """
    _, noise_height, noise_width = noise.shape(height, width)
    if noise.shared_channel:
        return np.repeat(seeded_normal(seed, stream, 1, noise_height, noise_width), noise.channels, axis=0)
    return seeded_normal(seed, stream, noise.channels, noise_height, noise_width)


def stacked_unit_noise(noise: NoiseSpec, seeds: Sequence[int], stream: int, height: int, width: int) -> np.ndarray:
    """``unit_noise`` of each seed, stacked: N x C x (h + 2m) x (w + 2m)."""
    return np.stack([unit_noise(noise, seed, stream, height, width) for seed in seeds])


class Executor(ABC):
    """Runs one trained model's stages. Subclasses run graphs; the reconstruction path is shared.

    The state between stages is opaque here (N x state_channels x h x w float32, in the executor's
    own form: ``run_stage`` takes host arrays or what it returned before, and returns its own form);
    only ``state_to_rgb`` (the image) and ``to_host`` bring it back as a numpy array.
    """

    spec: ModelSpec

    @property
    def layout(self) -> PyramidLayout:
        return self.spec.layout

    @abstractmethod
    def run_stage(self, stage: int, state: np.ndarray | None, noise: np.ndarray) -> np.ndarray:
        """Run one stage: the previous state (None before a first stage that takes only noise) and
        the stage's unit noise (N x C x h x w, its size setting the stage's size) -> the new state.
        Either input may be a numpy array or the executor's own form (``seeded_noise``, an earlier
        state)."""

    @abstractmethod
    def state_to_rgb(self, state: np.ndarray) -> np.ndarray:
        """N x 3 x H x W float32 image in [-1, 1] from the last state."""

    def seeded_noise(self, noise: NoiseSpec, seeds: Sequence[int], stream: int, height: int, width: int):
        """``stacked_unit_noise``, made where the graphs run (numpy here; executors on a device override it)."""
        return stacked_unit_noise(noise, seeds, stream, height, width)

    def to_host(self, state) -> np.ndarray:
        """A state as a numpy array (states already are, here)."""
        return state

    def upsample(self, state):
        """The model's learned x2 upsampler on the final image (N x 3 x h x w -> N x 3 x 2h x 2w), in
        the executor's own form. Only models whose spec lists an upsampler graph are asked (requests
        are planned first)."""
        raise NotImplementedError(f"the {self.spec.recipe} model has no learned upsampler")

    @abstractmethod
    def reconstruction_input(self) -> np.ndarray:
        """1 x C x h0 x w0 float32: what the reconstruction path feeds the first stage (SinGAN's z*,
        ConSinGAN's coarsest real image)."""

    @abstractmethod
    def reference(self) -> np.ndarray:
        """HxWx3 uint8 training image as trained on."""

    def first_state(self, count: int, size: tuple[int, int]) -> np.ndarray | None:
        """The state entering the first stage for ``count`` images of first-stage size ``size``."""
        if self.spec.first_stage_input == "nothing":
            return None
        return np.zeros((count, self.spec.state_channels, *size), np.float32)

    def reconstruction_noise(self, stage: int, height: int, width: int) -> np.ndarray:
        """1 x C x h x w: the reconstruction path's noise for ``stage`` at stage size height x width
        (the first stage's input is stretched to that size)."""
        noise = self.spec.noises[stage]
        if stage == 0:
            return resize(self.reconstruction_input()[0], height, width)[None]
        if self.spec.reconstruction_noise == "zeros":
            return np.zeros((1, *noise.shape(height, width)), np.float32)
        return unit_noise(noise, self.spec.reconstruction_seed, stage, height, width)[None]

    def reconstruction_state(self, stage: int) -> np.ndarray:
        """The state after ``stage`` on the reconstruction path at the training sizes (cached)."""
        cache = self.__dict__.setdefault("_reconstruction_states", {})
        if stage not in cache:
            previous = self.first_state(1, self.layout.sizes[0]) if stage == 0 else self.reconstruction_state(stage - 1)
            # Kept on the host: modes repeat and resize it in numpy (computed once per executor).
            cache[stage] = self.to_host(self.run_stage(stage, previous, self.reconstruction_noise(stage, *self.layout.sizes[stage])))
        return cache[stage]

    def reconstruction(self) -> np.ndarray:
        """1 x 3 x H x W float32 reconstruction of the training image."""
        return self.state_to_rgb(self.reconstruction_state(self.spec.num_stages - 1))


def run_stages(
    executor: Executor, start_stage: int, state: np.ndarray | None, noise: Callable[[int], np.ndarray], cancelled: Cancelled,
    upscale: int = 1,
) -> np.ndarray:
    """Run stages start_stage.. one at a time (``noise(stage)``: that stage's unit noise, made when
    needed) and return the image, stopping between stages when the request was cancelled. With
    ``upscale`` 2 or 4 the learned x2 upsampler then runs once or twice on the final image."""
    for stage in range(start_stage, executor.spec.num_stages):
        stop_if_cancelled(cancelled)
        state = executor.run_stage(stage, state, noise(stage))
    for _ in range(upsampler_runs(upscale)):
        stop_if_cancelled(cancelled)
        state = executor.upsample(state)
    return executor.state_to_rgb(state)


def entering_state(executor: Executor, start_stage: int, count: int, sizes: list[tuple[int, int]]) -> np.ndarray | None:
    """What enters ``start_stage`` when no image is injected: the first state at stage 0, else the
    reconstruction's state below (at the training size; the stage stretches it)."""
    if start_stage == 0:
        return executor.first_state(count, sizes[0])
    return np.repeat(executor.reconstruction_state(start_stage - 1), count, axis=0)


def seeded_chunks(
    executor: Executor, start_stage: int, entering: Callable[[int], np.ndarray | None], sizes: list[tuple[int, int]],
    seed: int, count: int, chunk: int, cancelled: Cancelled, first_noise: np.ndarray | None = None, upscale: int = 1,
) -> Iterator[tuple[int, np.ndarray]]:
    """(index of the first, N x 3 x H x W float32) per chunk of ``count`` images, seeds seed..seed+count-1.

    ``entering(n)`` is the state entering ``start_stage`` for n images. Image i's noise depends only on
    seed + i, so the chunk size never changes the pixels. ``first_noise`` (1 x C x h0 x w0) replaces
    stage 0's noise (an injected image, for models that take it there), and then stages above use
    the reconstruction noise: the result depends on the image, not the seed.
    """
    spec = executor.spec
    for first in range(0, count, chunk):
        seeds = range(seed + first, seed + min(first + chunk, count))

        def noise(stage: int, seeds: range = seeds) -> np.ndarray:
            if first_noise is not None:
                stage_noise = first_noise if stage == 0 else executor.reconstruction_noise(stage, *sizes[stage])
                return np.repeat(stage_noise, len(seeds), axis=0)
            return executor.seeded_noise(spec.noises[stage], seeds, stage, *sizes[stage])

        yield first, run_stages(executor, start_stage, entering(len(seeds)), noise, cancelled, upscale)


def stage_sizes(executor: Executor, height: int, width: int) -> list[tuple[int, int]]:
    return request_sizes(executor.layout, height, width)


def stop_if_cancelled(cancelled: Cancelled) -> None:
    if cancelled():
        raise RequestCancelled("the request was cancelled (the client went away or its deadline passed); work stopped")


def never_cancelled() -> bool:
    return False
