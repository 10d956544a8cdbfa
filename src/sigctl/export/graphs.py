"""Per-scale graphs: (previous image, unit noise) -> image, with dynamic batch, height and width.

One graph per scale rather than one for the whole pyramid: the serving runtime chains them in a
numpy loop, which is what lets one export serve every start scale, injected images, repeated
finest-scale passes (super-resolution) and fed-in noise (animation). Noise is an input, made by
the same numpy hash as in process, so it is bit-identical by construction.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn

from sigctl.core.pyramid import Pyramid, scale_step

ONNX_OPSET = 17
INPUT_PREVIOUS = "previous"
INPUT_NOISE = "noise"
OUTPUT_IMAGE = "image"


class ScaleGraph(nn.Module):
    """A frozen generator with its noise amplitude, as ``scale_step`` runs it."""

    def __init__(self, pyramid: Pyramid, scale: int):
        super().__init__()
        self.generator = pyramid.generators[scale]
        self.register_buffer("noise_amplitude", pyramid.noise_amplitudes[scale].detach().clone())

    def forward(self, previous: torch.Tensor, unit_noise: torch.Tensor) -> torch.Tensor:
        return scale_step(self.generator, self.noise_amplitude, previous, unit_noise)


def _example_inputs(pyramid: Pyramid, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    # Different sizes for previous and noise, so the trace records a real, shape-driven resize.
    height, width = pyramid.layout.sizes[scale]
    previous = torch.zeros(1, 3, max(1, height - 3), max(1, width - 5))
    return previous, torch.zeros(1, 3, height, width)


def export_onnx(pyramid: Pyramid, scale: int, path: Path) -> None:
    """Write scale ``scale`` as a single-file ONNX graph with dynamic N, H and W."""
    graph = ScaleGraph(pyramid.cpu(), scale).eval()
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            graph,
            _example_inputs(pyramid, scale),
            buffer,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=[INPUT_PREVIOUS, INPUT_NOISE],
            output_names=[OUTPUT_IMAGE],
            dynamic_axes={
                INPUT_PREVIOUS: {0: "batch", 2: "previous_height", 3: "previous_width"},
                INPUT_NOISE: {0: "batch", 2: "height", 3: "width"},
                OUTPUT_IMAGE: {0: "batch", 2: "height", 3: "width"},
            },
        )
    path.write_bytes(buffer.getvalue())


def export_torchscript(pyramid: Pyramid, scale: int, path: Path) -> None:
    """Write scale ``scale`` as a traced TorchScript module (same inputs as the ONNX graph)."""
    graph = ScaleGraph(pyramid.cpu(), scale).eval()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        traced = torch.jit.trace(graph, _example_inputs(pyramid, scale), check_trace=False)
    traced.save(str(path))
