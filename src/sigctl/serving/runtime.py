"""Sampling from an exported model version with numpy and onnxruntime (no torch).

A version folder holds ``pyramid.json`` (geometry, amplitudes, limits), ``reconstructions.npz``
(the training image and its reconstruction at every scale, computed by PyTorch at export) and
one graph per scale under ``scales/``. ``PyramidRuntime`` is an ``Executor``: every request is
answered by ``sigctl.core.operations``, the same code as in process.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from sigctl.core.operations import MODE_SAMPLE, Cancelled, Request, execute
from sigctl.core.requests import RequestLimits
from sigctl.core.scales import PyramidLayout
from sigctl.errors import ArtifactError

log = logging.getLogger(__name__)

METADATA = "pyramid.json"
RECONSTRUCTIONS = "reconstructions.npz"
SCALES_DIR = "scales"
FORMAT_SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}


def graph_path(folder: Path, scale: int, fmt: str) -> Path:
    return Path(folder) / SCALES_DIR / f"scale_{scale:02d}{FORMAT_SUFFIXES[fmt]}"


class OnnxEngine:
    """Runs per-scale ONNX graphs; the CUDA provider when asked for and available."""

    name = "onnx"

    def __init__(self, folder: Path, num_scales: int, use_gpu: bool, device_id: int, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # onnxruntime's arena keeps the peak of every request for good: measured on a 4 x 2048x2048
        # request, peak 2.1 GB and 1.9 GB held after with it, 1.0 GB and 0.3 GB without, same speed
        # (and 3 % slower at 128 px).
        options.enable_cpu_mem_arena = False
        # Spinning worker threads burn the cores between the many small per-scale calls and fight the
        # noise generation for them: off, a 128 px sample took 58 ms instead of 256 ms on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id}))
        self.sessions = [ort.InferenceSession(str(graph_path(folder, n, "onnx")), options, providers=providers) for n in range(num_scales)]
        self.providers = self.sessions[0].get_providers()

    def run(self, scale: int, previous: np.ndarray, noise: np.ndarray) -> np.ndarray:
        try:
            return self.sessions[scale].run(None, {"previous": previous, "noise": noise})[0]
        except Exception as error:
            # onnxruntime reports a failed allocation as a generic failure; it is a resource problem.
            if "Failed to allocate memory" in str(error) or "bad_alloc" in str(error):
                raise MemoryError(str(error).splitlines()[0]) from None
            raise


class TorchScriptEngine:
    """Runs per-scale TorchScript modules; needs torch in the serving environment."""

    name = "torchscript"

    def __init__(self, folder: Path, num_scales: int, use_gpu: bool, device_id: int, threads: int):
        import warnings

        import torch

        self.torch = torch
        self.device = torch.device(f"cuda:{device_id}" if use_gpu and torch.cuda.is_available() else "cpu")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's deprecation notice
            self.modules = [torch.jit.load(str(graph_path(folder, n, "torchscript")), map_location=self.device) for n in range(num_scales)]
        self.providers = [str(self.device)]

    def run(self, scale: int, previous: np.ndarray, noise: np.ndarray) -> np.ndarray:
        with self.torch.no_grad():
            out = self.modules[scale](self.torch.from_numpy(previous).to(self.device), self.torch.from_numpy(noise).to(self.device))
        return out.cpu().numpy()


ENGINES = {"onnx": OnnxEngine, "torchscript": TorchScriptEngine}


class PyramidRuntime:
    """An exported pyramid, ready to answer requests."""

    def __init__(
        self, folder: str | Path, engine: str | None = None, use_gpu: bool = False, device_id: int = 0, threads: int = 0,
        limits: RequestLimits | None = None,
    ):
        """``limits`` default to the ones stored at export; the served model passes those of its config."""
        folder = Path(folder)
        try:
            self.metadata = json.loads((folder / METADATA).read_text())
            with np.load(folder / RECONSTRUCTIONS, allow_pickle=False) as stored:
                self.reconstructions = [stored[f"scale_{n}"] for n in range(len(self.metadata["sizes"]))]
                self.reference_image = stored["reference"]
                self.stored_reconstruction_noise = stored["reconstruction_noise"]
        except (OSError, ValueError, KeyError) as error:
            raise ArtifactError(f"{folder} is not a complete sigctl model version ({error}); export it again") from None
        self.layout = PyramidLayout(
            sizes=tuple(tuple(s) for s in self.metadata["sizes"]),
            scale_factor=self.metadata["scale_factor"],
            size_rounding=self.metadata.get("size_rounding", "round"),  # versions exported before the reference plan
        )
        self.limits = limits or RequestLimits(**self.metadata["limits"])
        self.super_resolution_factor = self.metadata.get("super_resolution_factor")
        formats = self.metadata["formats"]
        chosen = engine or ("onnx" if "onnx" in formats else formats[0])
        if chosen not in formats:
            raise ArtifactError(f"{folder} has no {chosen} graphs (it has {formats}); export with --format {chosen} or both")
        self.engine = ENGINES[chosen](folder, self.layout.num_scales, use_gpu, device_id, threads)
        log.info("loaded %s (%d scales) with %s on %s", folder, self.layout.num_scales, chosen, self.engine.providers)

    def handle(self, request: Request, cancelled: Cancelled | None = None) -> np.ndarray:
        """Answer a request with NxHxWx3 uint8 images (frames, for animate); see ``execute``."""
        return execute(self, request, self.limits, cancelled)

    def sample(self, num_samples: int, seed: int, height: int | None = None, width: int | None = None, start_scale: int = 0) -> np.ndarray:
        """Random samples as NxHxWx3 uint8: what ``sigctl.core.pyramid.sample_images`` gives, within float rounding."""
        return self.handle(Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale))

    # -- the Executor interface (sigctl.core.operations) ------------------------------------------------
    def run_scales(self, start_scale: int, entering: np.ndarray, noises: Sequence[np.ndarray]) -> np.ndarray:
        image = np.ascontiguousarray(entering, dtype=np.float32)
        for offset, noise in enumerate(noises):
            image = self.engine.run(start_scale + offset, image, np.ascontiguousarray(noise, dtype=np.float32))
        return image

    def reconstruction(self, scale: int) -> np.ndarray:
        return self.reconstructions[scale]

    def reconstruction_noise(self) -> np.ndarray:
        return self.stored_reconstruction_noise

    def reference(self) -> np.ndarray:
        return self.reference_image
