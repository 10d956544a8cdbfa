"""config.pbtxt generated from typed settings, never written by hand."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from sigctl.serving import contract


class TritonModelConfig(BaseModel):
    """The parts of Triton's ModelConfig that sigctl uses."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Model name; the repository folder has the same name.")
    backend: Literal["python"] = Field("python", description="Triton backend running the model.")
    instance_count: int = Field(1, ge=1, description="Model instances (each a python-backend process).")
    instance_kind: Literal["KIND_CPU", "KIND_GPU", "KIND_AUTO"] = Field(
        "KIND_AUTO", description="Where instances run; AUTO picks GPUs where Triton sees them."
    )
    versions_served: int = Field(1, ge=1, description="How many of the newest versions are loaded.")
    parameters: dict[str, str] = Field(default_factory=dict, description="String parameters clients can read with get_model_config.")

    def to_pbtxt(self) -> str:
        lines = [f'name: "{self.name}"', f'backend: "{self.backend}"', "max_batch_size: 0"]
        lines.append(f"version_policy: {{ latest: {{ num_versions: {self.versions_served} }} }}")
        for spec in contract.INPUTS:
            lines.append(_tensor_block("input", spec, optional=not spec.required))
        for spec in contract.OUTPUTS:
            lines.append(_tensor_block("output", spec, optional=False))
        lines.append(f"instance_group [ {{ count: {self.instance_count}, kind: {self.instance_kind} }} ]")
        for key, value in sorted(self.parameters.items()):
            lines.append(f"parameters: {{ key: {json.dumps(key)} value: {{ string_value: {json.dumps(value)} }} }}")
        return "\n".join(lines) + "\n"


def _tensor_block(kind: str, spec: contract.TensorSpec, optional: bool) -> str:
    dims = ", ".join(str(d) for d in spec.dims)
    # Triton does not enforce required inputs (2.51 lets a missing one through), so every input is
    # declared optional and model.py checks presence, with a message that says what is missing.
    flag = "\n    optional: true" if kind == "input" else ""
    return f'{kind} [\n  {{\n    name: "{spec.name}"\n    data_type: {spec.triton_type}\n    dims: [ {dims} ]{flag}\n  }}\n]'
