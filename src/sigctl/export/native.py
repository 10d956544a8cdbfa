"""Per-scale models for Triton's native backends (onnxruntime_onnx, pytorch_libtorch).

NVIDIA's container can serve each scale graph without Python: one model per scale and format,
in a repository of their own (the pip server has neither backend, so they must not sit beside
the python-backend models it loads). A client chains them coarse to fine exactly as
``sigctl.serving.runtime.PyramidRuntime.sample`` does, feeding the hash noise of
``sigctl.core.noise``. Generated and validated here (config schema, graph files), not run: the
pip server ships only the python backend.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from sigctl.export.repository import publish_version
from sigctl.serving import runtime

NATIVE_BACKENDS = {"onnx": ("onnxruntime", "model.onnx"), "torchscript": ("pytorch", "model.pt")}
# pytorch_libtorch binds inputs by the traced forward()'s argument names and wants outputs named NAME__INDEX.
TENSOR_NAMES = {
    "onnx": (("previous", "noise"), "image"),
    "torchscript": (("previous", "unit_noise"), "image__0"),
}


def native_model_name(name: str, scale: int, fmt: str) -> str:
    return f"{name}_s{scale:02d}_{'onnx' if fmt == 'onnx' else 'libtorch'}"


def native_config(model_name: str, fmt: str, scale: int, num_scales: int, noise_amplitude: float) -> str:
    backend, filename = NATIVE_BACKENDS[fmt]
    (previous, noise), output = TENSOR_NAMES[fmt]
    parameters = {"scale": str(scale), "num_scales": str(num_scales), "noise_amplitude": repr(noise_amplitude),
                  "inputs": json.dumps({"previous": "image from the coarser scale (any size)", "noise": "unit noise at this scale's size"})}
    lines = [f'name: "{model_name}"', f'backend: "{backend}"', f'default_model_filename: "{filename}"', "max_batch_size: 0"]
    for kind, names in (("input", (previous, noise)), ("output", (output,))):
        for tensor in names:
            lines.append(f'{kind} [ {{ name: "{tensor}" data_type: TYPE_FP32 dims: [ -1, 3, -1, -1 ] }} ]')
    lines.append("instance_group [ { count: 1, kind: KIND_AUTO } ]")
    for key, value in sorted(parameters.items()):
        lines.append(f"parameters: {{ key: {json.dumps(key)} value: {{ string_value: {json.dumps(value)} }} }}")
    return "\n".join(lines) + "\n"


def publish_native(version_folder: Path, native_repository: Path, name: str, formats: tuple[str, ...]) -> list[str]:
    """Publish every scale graph of an exported version as native models; returns the model names."""
    metadata = json.loads((version_folder / runtime.METADATA).read_text())
    num_scales = len(metadata["sizes"])
    published = []
    for fmt in formats:
        _, filename = NATIVE_BACKENDS[fmt]
        for scale in range(num_scales):
            model_name = native_model_name(name, scale, fmt)
            source = runtime.graph_path(version_folder, scale, fmt)
            config = native_config(model_name, fmt, scale, num_scales, metadata["noise_amplitudes"][scale])
            publish_version(native_repository, model_name, lambda folder, src=source, name=filename: shutil.copyfile(src, folder / name), config)
            published.append(model_name)
    return published
