"""The one spec of a served model version: what the model is, what it accepts, and its provenance.

Written by export into the version folder (``model_spec.json``) and rendered into ``config.pbtxt``
parameters from the same object, so the limits advertised are the limits enforced: the served
runtime reads the file (or the published copy in its config), the client's ``info()`` reads the
config. Plain Python: the runtime and the client import it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sigctl.core.model import ModelSpec
from sigctl.core.requests import RequestLimits
from sigctl.errors import ArtifactError

SPEC_FILE = "model_spec.json"
SPEC_PARAMETER = "model_spec"  # the config.pbtxt parameter holding the whole spec as JSON
GRAPHS_DIR = "graphs"
ARRAYS_FILE = "arrays.npz"  # the training image and the reconstruction path's first input
FORMAT_SUFFIXES = {"onnx": ".onnx", "torchscript": ".pt"}
SERVED_PRECISIONS = ("fp32", "bf16")


@dataclass(frozen=True)
class ServedSpec:
    """A served version: the model spec, the limits it enforces, its graph formats and provenance."""

    model: ModelSpec
    limits: RequestLimits
    formats: tuple[str, ...]
    provenance: dict[str, Any] = field(default_factory=dict)  # name, sigctl version, export time, training image, ...
    scores: dict[str, Any] | None = None  # the artifact's eval.json, when it has one
    # fp32, or bf16: the TorchScript graphs run under bf16 autocast where the CPU/GPU has bf16.
    precision: str = "fp32"
    # For bf16: how far its samples were measured from fp32 PyTorch at export (levels of 255).
    precision_difference: dict[str, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model.to_dict(), "limits": self.limits.as_dict(), "formats": list(self.formats),
                "provenance": self.provenance, "scores": self.scores, "precision": self.precision,
                "precision_difference": self.precision_difference}

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> "ServedSpec":
        try:
            limits = RequestLimits(**{k: v for k, v in values["limits"].items() if k in RequestLimits.__dataclass_fields__})
            formats = tuple(str(f) for f in values["formats"])
            provenance, scores = dict(values.get("provenance") or {}), values.get("scores")
            precision, difference = str(values.get("precision", "fp32")), values.get("precision_difference")
        except (KeyError, TypeError, AttributeError) as error:
            raise ArtifactError(f"the served model spec is damaged ({type(error).__name__}: {error}); export the model again") from None
        unknown = [f for f in formats if f not in FORMAT_SUFFIXES]
        if unknown or not formats:
            raise ArtifactError(f"the served model spec lists graph formats {list(formats)}; expected some of {list(FORMAT_SUFFIXES)}")
        if precision not in SERVED_PRECISIONS or (precision == "bf16" and "torchscript" not in formats):
            raise ArtifactError(f"the served model spec asks for precision {precision!r} with formats {list(formats)}; "
                                f"expected one of {list(SERVED_PRECISIONS)} (bf16 needs torchscript graphs)")
        return cls(ModelSpec.from_dict(values["model"]), limits, formats, provenance, scores, precision, difference)

    @classmethod
    def read(cls, folder: Path) -> "ServedSpec":
        path = Path(folder) / SPEC_FILE
        try:
            return cls.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError) as error:
            raise ArtifactError(f"{path} is missing or unreadable ({error}); {folder} is not a complete sigctl model version: export it again") from None

    def write(self, folder: Path) -> None:
        (Path(folder) / SPEC_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def config_parameters(self) -> dict[str, str]:
        """config.pbtxt parameters: the whole spec, plus the facts a person reads at a glance."""
        model = self.model
        height, width = model.layout.finest_size
        return {
            SPEC_PARAMETER: json.dumps(self.to_dict()),
            "recipe": model.recipe,
            "model_class": model.model_class,
            "num_stages": str(model.num_stages),
            "stage_sizes": json.dumps([list(size) for size in model.layout.sizes]),
            "training_height": str(height),
            "training_width": str(width),
            "modes": json.dumps(list(model.modes)),
            "limits": json.dumps(self.limits.as_dict()),
            "scores": json.dumps(self.scores),
            "precision": self.precision,
            "precision_difference": json.dumps(self.precision_difference),
            "sigctl_version": str(self.provenance.get("sigctl_version", "")),
        }

    @classmethod
    def from_config_parameters(cls, parameters: dict[str, str]) -> "ServedSpec":
        """The spec a served config publishes (``get_model_config`` parameters as plain strings)."""
        if SPEC_PARAMETER not in parameters:
            raise ArtifactError("the model's config has no model_spec parameter: it is not a sigctl model, or was exported by an older sigctl (export it again)")
        try:
            values = json.loads(parameters[SPEC_PARAMETER])
        except ValueError as error:
            raise ArtifactError(f"the model's published spec is not JSON ({error}); export it again") from None
        return cls.from_dict(values)


def graph_path(folder: Path, graph_name: str, fmt: str) -> Path:
    return Path(folder) / GRAPHS_DIR / f"{graph_name}{FORMAT_SUFFIXES[fmt]}"
