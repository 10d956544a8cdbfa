"""The family's models: one interface (``GenerativeModel``), one module per model.

A model is built from its own stored config alone (``build_model(class_name, config)``, as
diffusers' ``from_config``), states what it is as a ``sigctl.core.model.ModelSpec``, runs one stage
at a time on an opaque state, and names the graphs an export writes. Sampling, the manipulations,
export, the served runtime and the artifact use nothing else.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from sigctl.core.models.base import ExportGraph, GenerativeModel
from sigctl.core.models.consingan import ConSinGANModel
from sigctl.core.models.involution import InvolutionModel
from sigctl.core.models.petsgan import PetsGANModel
from sigctl.core.models.singan import SinGANModel
from sigctl.errors import ArtifactError

MODEL_CLASSES: dict[str, type[GenerativeModel]] = {cls.model_class: cls for cls in (SinGANModel, ConSinGANModel, InvolutionModel, PetsGANModel)}


def build_model(class_name: str, config: dict[str, Any]) -> GenerativeModel:
    """Build a model from its stored class name and config (validated); ArtifactError if they are bad."""
    if class_name not in MODEL_CLASSES:
        raise ArtifactError(f"unknown model class {class_name!r} (this sigctl knows {', '.join(sorted(MODEL_CLASSES))}); upgrade sigctl")
    cls = MODEL_CLASSES[class_name]
    try:
        parsed = cls.config_type.model_validate(config)
    except ValidationError as error:
        first = error.errors()[0]
        raise ArtifactError(f"the {class_name} model config is invalid: {first['msg']} at {'.'.join(str(p) for p in first['loc'])}") from None
    return cls.from_config(parsed)


__all__ = ["MODEL_CLASSES", "ConSinGANModel", "ExportGraph", "GenerativeModel", "InvolutionModel", "PetsGANModel", "SinGANModel", "build_model"]
