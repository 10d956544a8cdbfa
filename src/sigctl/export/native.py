"""Per-graph models for Triton's native backends (onnxruntime_onnx, pytorch_libtorch).

NVIDIA's container can serve each of a version's graphs without Python: one model per graph and
format, in a repository of their own (the pip server has neither backend, so they must not sit
beside the python-backend models it loads). A client chains them as
``sigctl.serving.runtime.ModelRuntime`` does, from the spec each config publishes, feeding the hash
noise of ``sigctl.core.stages.unit_noise``. Generated and validated here (config schema, graph
files), not run: the pip server ships only the python backend.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sigctl.core.model import GraphSpec
from sigctl.export.repository import publish_version
from sigctl.serving.spec import ServedSpec, graph_path

NATIVE_BACKENDS = {"onnx": ("onnxruntime", "model.onnx"), "torchscript": ("pytorch", "model.pt")}


def native_model_name(name: str, graph_name: str, fmt: str) -> str:
    return f"{name}_{graph_name}_{'onnx' if fmt == 'onnx' else 'libtorch'}"


def _output_names(graph: GraphSpec, fmt: str) -> tuple[str, ...]:
    # pytorch_libtorch binds inputs by the traced forward()'s argument names (the graph's input
    # names, by construction) and wants outputs named NAME__INDEX.
    return graph.outputs if fmt == "onnx" else tuple(f"{name}__{index}" for index, name in enumerate(graph.outputs))


def native_config(model_name: str, fmt: str, graph: GraphSpec, served: ServedSpec) -> str:
    backend, filename = NATIVE_BACKENDS[fmt]
    model = served.model
    parameters = {
        "graph": graph.name, "role": graph.role, "stage": json.dumps(graph.stage),
        "noise_amplitude": repr(model.noise_amplitudes[graph.stage]) if graph.stage is not None else "null",
        "model_spec": json.dumps(model.to_dict()),
    }
    lines = [f'name: "{model_name}"', f'backend: "{backend}"', f'default_model_filename: "{filename}"', "max_batch_size: 0"]
    for kind, names in (("input", graph.inputs), ("output", _output_names(graph, fmt))):
        for tensor in names:
            lines.append(f'{kind} [ {{ name: "{tensor}" data_type: TYPE_FP32 dims: [ -1, -1, -1, -1 ] }} ]')
    lines.append("instance_group [ { count: 1, kind: KIND_AUTO } ]")
    for key, value in sorted(parameters.items()):
        lines.append(f"parameters: {{ key: {json.dumps(key)} value: {{ string_value: {json.dumps(value)} }} }}")
    return "\n".join(lines) + "\n"


def native_model_names(name: str, served_graphs: tuple[GraphSpec, ...], formats: tuple[str, ...]) -> list[str]:
    return [native_model_name(name, graph.name, fmt) for fmt in formats for graph in served_graphs]


def publish_native(version_folder: Path, native_repository: Path, name: str, formats: tuple[str, ...]) -> list[str]:
    """Publish every graph of an exported version as native models; returns the model names."""
    served = ServedSpec.read(version_folder)
    published = []
    for fmt in formats:
        _, filename = NATIVE_BACKENDS[fmt]
        for graph in served.model.graphs:
            model_name = native_model_name(name, graph.name, fmt)
            source = graph_path(version_folder, graph.name, fmt)
            config = native_config(model_name, fmt, graph, served)
            publish_version(native_repository, model_name, lambda folder, src=source, name=filename: shutil.copyfile(src, folder / name), config)
            published.append(model_name)
    return published
