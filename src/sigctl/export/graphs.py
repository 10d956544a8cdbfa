"""Writing a model's graphs: each ``ExportGraph`` the model names, with dynamic batch and sizes.

One graph per stage (plus a to-RGB graph where the state is not the image) rather than one for the
whole model: the serving runtime chains them in a numpy loop, which is what lets one export serve
every start stage, injected images, repeated finest-stage passes (super-resolution) and fed-in
noise (animation). Noise is an input, made by the same numpy hash as in process, so it is
bit-identical by construction.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch

from sigctl.core.models import ExportGraph

ONNX_OPSET = 17


def export_onnx(graph: ExportGraph, path: Path) -> None:
    """Write one graph as a single-file ONNX graph with the dynamic axes it names."""
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            graph.module.cpu().eval(),
            graph.example_inputs,
            buffer,
            dynamo=False,
            opset_version=ONNX_OPSET,
            input_names=list(graph.spec.inputs),
            output_names=list(graph.spec.outputs),
            dynamic_axes=graph.dynamic_axes,
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buffer.getvalue())


def export_torchscript(graph: ExportGraph, path: Path) -> None:
    """Write one graph as a traced TorchScript module (same inputs, in the same order, as the ONNX graph)."""
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        traced = torch.jit.trace(graph.module.cpu().eval(), graph.example_inputs, check_trace=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    traced.save(str(path))
