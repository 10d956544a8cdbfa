"""SinGAN's settings: every hyperparameter with the reference code's default."""

from __future__ import annotations

import math
from typing import Any, ClassVar, Literal, Optional

from pydantic import Field, model_validator

from sigctl.config.common import AdamSettings, LossSettings, RunSettings, Settings
from sigctl.core.models.singan_config import NetworkSettings
from sigctl.core.scales import PyramidLayout, fit_exactly, fit_to_max_size, plan_closest_factor, plan_reference

PyramidPlan = Literal["reference", "closest_factor"]


class PyramidSettings(Settings):
    max_size: int = Field(250, ge=16, le=4096, description="Longer side of the finest scale, px; larger images are downscaled.")
    min_size: int = Field(25, ge=8, le=1024, description="Shorter side of the coarsest scale, px.")
    target_scale_factor: float = Field(
        4 / 3,
        gt=1.0,
        le=4.0,
        description="Size ratio between neighbouring scales the plan starts from (the reference code's 1 / scale_factor_init = 1 / 0.75).",
    )
    plan: PyramidPlan = Field(
        "reference",
        description=(
            "How scales are planned. reference: exactly as the SinGAN reference code (scale count from the source size, factor "
            "re-fitted, sizes rounded up; balloons: 9 scales, 128 channels at the finest). closest_factor: the scale count whose "
            "factor is closest to target_scale_factor (sigctl 0.1's rule; balloons: 8 scales, 64 channels at the finest)."
        ),
    )


class OptimizerSettings(AdamSettings):
    iterations_per_scale: int = Field(2000, ge=1, description="Training iterations per scale.")


SR_STEP_FACTOR = 2 ** (1 / 3)  # the SinGAN reference's per-step factor for super-resolution
SR_RECONSTRUCTION_WEIGHT = 100.0  # the paper's alpha for super-resolution


class SinGANSettings(RunSettings):
    """SinGAN: scales trained one at a time, coarse to fine (seeds 001/002)."""

    recipe: Literal["singan"] = Field("singan", description="Training recipe.")
    # Where the CLI's --max-size and --iterations go in this recipe's settings.
    max_size_path: ClassVar[tuple[str, ...]] = ("pyramid", "max_size")
    iterations_path: ClassVar[tuple[str, ...]] = ("optimizer", "iterations_per_scale")
    super_resolution_factor: Optional[float] = Field(
        None, gt=1.0, le=16.0,
        description="Train for super-resolution by this factor F: scales are spaced by r = F^(1/k) with r closest to 2^(1/3), alpha 100 unless set.",
    )
    init_from_previous_scale: bool = Field(
        True, description="Start a scale's networks from the previous scale's weights when their channel counts match (as the reference code does)."
    )
    pyramid: PyramidSettings = PyramidSettings()
    network: NetworkSettings = NetworkSettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    loss: LossSettings = LossSettings()

    @model_validator(mode="before")
    @classmethod
    def _super_resolution_defaults(cls, values: Any) -> Any:
        """A factor means super-resolution: alpha 100, unless set explicitly.

        Here rather than in the CLI so that every caller (CLI, Python API, config files) gets it.
        """
        if not isinstance(values, dict) or values.get("super_resolution_factor") is None:
            return values
        values = dict(values)
        loss = values.get("loss") or {}
        if isinstance(loss, LossSettings):
            if "reconstruction_weight" not in loss.model_fields_set:
                values["loss"] = loss.model_copy(update={"reconstruction_weight": SR_RECONSTRUCTION_WEIGHT})
        elif isinstance(loss, dict):
            values["loss"] = {"reconstruction_weight": SR_RECONSTRUCTION_WEIGHT, **loss}
        return values

    def fit_size(self, source_height: int, source_width: int) -> tuple[int, int]:
        """The training size (finest scale) for a source image of source_height x source_width."""
        if self.pyramid.plan == "reference":
            return fit_exactly(source_height, source_width, self.pyramid.max_size)
        return fit_to_max_size(source_height, source_width, self.pyramid.max_size)

    def plan_pyramid(self, source_height: int, source_width: int) -> PyramidLayout:
        """The pyramid these settings give for a source image of source_height x source_width (before fitting).

        Super-resolution (an exact factor) always uses the closest-factor rule with that factor.
        """
        pyramid = self.pyramid
        if pyramid.plan == "reference" and self.super_resolution_factor is None:
            return plan_reference(source_height, source_width, pyramid.max_size, pyramid.min_size, pyramid.target_scale_factor)
        height, width = self.fit_size(source_height, source_width)
        return plan_closest_factor(height, width, pyramid.min_size, pyramid.target_scale_factor, self.exact_scale_factor())

    def exact_scale_factor(self) -> Optional[float]:
        """The factor between scales when it is fixed (super-resolution), else None."""
        if self.super_resolution_factor is None:
            return None
        steps = max(1, round(math.log(self.super_resolution_factor) / math.log(SR_STEP_FACTOR)))
        return self.super_resolution_factor ** (1 / steps)
