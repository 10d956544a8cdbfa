"""Typed settings for training and sampling.

Every hyperparameter lives here with the paper's default. Presets are YAML files in
``sigctl/presets``: a preset and an optional user config file are deep-merged over these
defaults, and the resolved settings are written next to every run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
import math
from typing import Any, Literal, Optional

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sigctl.core.scales import PyramidLayout, fit_exactly, fit_to_max_size, plan_closest_factor, plan_reference
from sigctl.errors import SettingsError

PaddingMode = Literal["zero", "replicate", "circular"]
PyramidPlan = Literal["reference", "closest_factor"]


class _Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PyramidSettings(_Settings):
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


class NetworkSettings(_Settings):
    base_channels: int = Field(32, ge=1, description="Feature channels at the coarsest scale.")
    max_channels: int = Field(128, ge=1, description="Cap on feature channels.")
    channel_doubling_interval: int = Field(4, ge=1, description="Channels double every this many scales.")
    num_blocks: int = Field(5, ge=2, description="Conv3x3 blocks per network (the last is the output conv).")
    kernel_size: int = Field(3, ge=1, description="Convolution kernel size, px (odd).")
    leaky_relu_slope: float = Field(0.2, ge=0.0, lt=1.0, description="Negative slope of LeakyReLU.")
    padding_mode: PaddingMode = Field(
        "zero", description="How the generator input is padded once before its unpadded convolutions (seed 003 compares them)."
    )

    @field_validator("kernel_size")
    @classmethod
    def _odd_kernel(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"the kernel size must be odd (unpadded convolutions eat (k - 1) / 2 px per side), got {value}")
        return value

    def channels_at(self, scale: int) -> int:
        """Feature channels of the networks at pyramid scale ``scale`` (0 = coarsest)."""
        return min(self.base_channels * 2 ** (scale // self.channel_doubling_interval), self.max_channels)


class OptimizerSettings(_Settings):
    iterations_per_scale: int = Field(2000, ge=1, description="Training iterations per scale.")
    generator_lr: float = Field(5e-4, gt=0, description="Adam learning rate of the generators.")
    discriminator_lr: float = Field(5e-4, gt=0, description="Adam learning rate of the discriminators.")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam betas.")
    lr_decay_at: float = Field(0.8, gt=0, le=1.0, description="Fraction of a scale's iterations after which the lr is multiplied by lr_decay_factor.")
    lr_decay_factor: float = Field(0.1, gt=0, le=1.0, description="Learning-rate multiplier applied at lr_decay_at.")
    discriminator_steps: int = Field(3, ge=1, description="Discriminator updates per iteration.")
    generator_steps: int = Field(3, ge=1, description="Generator updates per iteration (seed 003 finds 1 nearly as good).")

    @field_validator("betas")
    @classmethod
    def _adam_betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in value):
            raise ValueError(f"Adam betas must each be in [0, 1), got {list(value)}")
        return value


class LossSettings(_Settings):
    gradient_penalty_weight: float = Field(0.1, ge=0, description="WGAN-GP weight.")
    reconstruction_weight: float = Field(10.0, ge=0, description="Weight alpha of the reconstruction MSE (100 for super-resolution).")
    noise_amplitude_scale: float = Field(
        0.1, gt=0, description="Noise amplitude of a finer scale = this x RMSE between the upsampled reconstruction and the real image."
    )


SR_STEP_FACTOR = 2 ** (1 / 3)  # the SinGAN reference's per-step factor for super-resolution
SR_RECONSTRUCTION_WEIGHT = 100.0  # the paper's alpha for super-resolution


class TrainSettings(_Settings):
    recipe: Literal["singan", "sr"] = Field("singan", description="Training algorithm; sr = SinGAN trained for super-resolution.")
    super_resolution_factor: Optional[float] = Field(
        None, gt=1.0, le=16.0, description="sr recipe: the upscaling factor F; scales are spaced by r = F^(1/k) with r closest to 2^(1/3)."
    )
    seed: int = Field(0, ge=0, description="Seed of the training randomness (weights, noise, reconstruction noise).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train; auto picks cuda when available.")
    init_from_previous_scale: bool = Field(
        True, description="Start a scale's networks from the previous scale's weights when their channel counts match (as the reference code does)."
    )
    report_samples: int = Field(8, ge=1, le=64, description="Random samples in the samples.png grid written at the end of training.")
    checkpoint_interval_seconds: float = Field(
        300.0,
        ge=0,
        description=(
            "At most this much work is lost when a run is killed, s: inside a stage a checkpoint is written at the first log "
            "window after this long since the last (one is always written after each stage); 0 = at every log window."
        ),
    )
    pyramid: PyramidSettings = PyramidSettings()
    network: NetworkSettings = NetworkSettings()
    optimizer: OptimizerSettings = OptimizerSettings()
    loss: LossSettings = LossSettings()

    @model_validator(mode="before")
    @classmethod
    def _super_resolution_defaults(cls, values: Any) -> Any:
        """A factor means super-resolution: recipe sr and alpha 100, unless set explicitly.

        Here rather than in the CLI so that every caller (CLI, Python API, config files) gets it.
        """
        if not isinstance(values, dict) or values.get("super_resolution_factor") is None:
            return values
        values = {**values, "recipe": values.get("recipe", "sr")}
        loss = values.get("loss") or {}
        if isinstance(loss, LossSettings):
            if "reconstruction_weight" not in loss.model_fields_set:
                values["loss"] = loss.model_copy(update={"reconstruction_weight": SR_RECONSTRUCTION_WEIGHT})
        elif isinstance(loss, dict):
            values["loss"] = {"reconstruction_weight": SR_RECONSTRUCTION_WEIGHT, **loss}
        return values

    @model_validator(mode="after")
    def _super_resolution_needs_a_factor(self) -> "TrainSettings":
        if (self.recipe == "sr") != (self.super_resolution_factor is not None):
            raise ValueError("the sr recipe needs super_resolution_factor (--factor F), and only the sr recipe takes one")
        return self

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


def preset_names() -> list[str]:
    """Names of the bundled presets."""
    folder = resources.files("sigctl") / "presets"
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_settings(preset: str = "paper", config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainSettings:
    """Resolve settings: defaults <- preset <- config file <- overrides (each deep-merged)."""
    if preset not in preset_names():
        raise SettingsError(f"unknown preset {preset!r}; available: {', '.join(preset_names())}")
    merged = _read_yaml_text((resources.files("sigctl") / "presets" / f"{preset}.yaml").read_text(), f"preset {preset}")
    if config_file is not None:
        merged = _deep_merge(merged, read_config_file(config_file))
    merged = _deep_merge(merged, overrides or {})
    return settings_from_dict(merged, source=str(config_file or f"preset {preset}"))


def read_config_file(path: Path) -> dict[str, Any]:
    """The mapping in a YAML settings file, unvalidated; a SettingsError if it cannot be read as one."""
    path = Path(path)
    if path.is_dir():
        raise SettingsError(f"config file {path} is a directory; give a YAML file")
    if not path.is_file():
        raise SettingsError(f"config file {path} does not exist")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SettingsError(f"config file {path} is not UTF-8 text; give a YAML file") from None
    return _read_yaml_text(text, f"config file {path}")


def settings_from_dict(values: dict[str, Any], source: str) -> TrainSettings:
    """Validate a settings mapping, turning pydantic's errors into one readable message."""
    try:
        return TrainSettings.model_validate(values)
    except ValidationError as error:
        problems = "; ".join(f"{'.'.join(str(p) for p in item['loc'])}: {item['msg']}" for item in error.errors())
        raise SettingsError(f"invalid settings in {source}: {problems}") from None


def _read_yaml_text(text: str, source: str) -> dict[str, Any]:
    try:
        values = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise SettingsError(f"{source} is not valid YAML: {describe_yaml_error(error)}") from None
    if not isinstance(values, dict):
        raise SettingsError(f"{source} must hold a mapping of settings, not {type(values).__name__}")
    return values


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """One line for a YAML parse error: the problem and its line."""
    mark = getattr(error, "problem_mark", None)
    problem = getattr(error, "problem", None) or str(error).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else problem


def _deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged
