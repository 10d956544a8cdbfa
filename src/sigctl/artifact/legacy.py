"""Reading artifacts of formats 1 and 2 (sigctl 0.1 and 0.2: SinGAN only).

They stored the pyramid's shape in the manifest (``scales``, ``network``, ``scale_factor``, ...),
the generators and z* in two safetensors files, and validated training settings. Here they become
a format-3 manifest (class ``singan``, its config) and the model's named tensors, so the one
``load()`` serves every format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file

GENERATORS = "generators.safetensors"
NOISE = "noise.safetensors"
LEGACY_REQUIRED_FILES = (GENERATORS, NOISE)


def upgrade_manifest(raw: dict[str, Any], format_version: int) -> dict[str, Any]:
    """The format-3 manifest of a format-1 or -2 one.

    Format 1 planned every pyramid by the closest factor with rounded sizes and had no plan setting:
    say so, so the settings read back describe what was trained.
    """
    training = dict(raw.get("training") or {})
    rounding = raw.get("size_rounding", "round")
    if format_version == 1:
        training["pyramid"] = {**(training.get("pyramid") or {}), "plan": "closest_factor"}
        rounding = "round"
    scales = raw.get("scales") or []
    config = {
        "sizes": [[scale["height"], scale["width"]] for scale in scales],
        "scale_factor": raw.get("scale_factor"),
        "size_rounding": rounding,
        "network": raw.get("network") or {},
        "super_resolution_factor": raw.get("super_resolution_factor"),
    }
    keep = ("package_version", "recipe", "created_at", "training_seconds", "device", "image", "files")
    upgraded = {key: raw[key] for key in keep if key in raw}
    upgraded["recipe"] = "singan" if upgraded.get("recipe") == "sr" else upgraded.get("recipe", "singan")
    upgraded.update(format_version=3, model={"class_name": "singan", "config": config}, training=training)
    return upgraded


def legacy_tensors(path: Path, raw: dict[str, Any]) -> dict[str, torch.Tensor]:
    """The SinGAN model's state dict from a format-1/2 artifact's files and manifest."""
    tensors = {f"generators.{name}": value for name, value in load_file(str(Path(path) / GENERATORS)).items()}
    tensors["reconstruction_noise"] = load_file(str(Path(path) / NOISE))["reconstruction_noise"]
    tensors["noise_amplitudes"] = torch.tensor([float(scale["noise_amplitude"]) for scale in raw.get("scales") or []], dtype=torch.float32)
    return tensors
