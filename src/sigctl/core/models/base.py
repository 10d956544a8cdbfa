"""The interface every model of the family implements (see ``sigctl.core.model`` for its data)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

import torch
from pydantic import BaseModel
from torch import nn

from sigctl.core.model import GraphSpec, ModelSpec


@dataclass
class ExportGraph:
    """One graph to export: what it is, the module that computes it, inputs to trace it with, and
    which axes of its tensors are dynamic (name -> {axis: label})."""

    spec: GraphSpec
    module: nn.Module
    example_inputs: tuple[torch.Tensor, ...]
    dynamic_axes: dict[str, dict[int, str]]


class GenerativeModel(nn.Module, ABC):
    """A trained (or training) model: its config, its spec, and its stages.

    Subclasses set ``model_class`` (the name stored in artifacts) and ``config_type`` (the pydantic
    model of their config) and are registered in ``model_classes``.
    """

    model_class: ClassVar[str]
    config_type: ClassVar[type[BaseModel]]

    @classmethod
    @abstractmethod
    def from_config(cls, config: BaseModel) -> "GenerativeModel":
        """An untrained model of exactly the stored shape, ready for ``load_state_dict``."""

    @property
    @abstractmethod
    def config(self) -> BaseModel:
        """The model's own config: everything ``from_config`` needs, nothing about training."""

    @abstractmethod
    def spec(self, recipe: str) -> ModelSpec:
        """What the request path needs to know (stages, noise, modes, graphs)."""

    @abstractmethod
    def run_stage(self, stage: int, state: torch.Tensor | None, noise: torch.Tensor) -> torch.Tensor:
        """One stage: previous state (None before a first stage that takes only noise) and unit noise -> state."""

    def to_rgb(self, state: torch.Tensor) -> torch.Tensor:
        """The image in [-1, 1] from the last state (identity where the state is the image)."""
        return state

    def upsample(self, image: torch.Tensor) -> torch.Tensor:
        """The learned x2 upsampler (models whose spec lists an ``upsampler`` graph); requests refuse
        an upscale for the others before any work, so reaching this is a bug."""
        raise NotImplementedError(f"the {self.model_class} model has no learned upsampler")

    @abstractmethod
    def reconstruction_input(self) -> torch.Tensor:
        """1 x C x h0 x w0: what the reconstruction path feeds the first stage."""

    @abstractmethod
    def export_graphs(self) -> list[ExportGraph]:
        """The graphs an export writes, in the order of ``spec().graphs``."""
