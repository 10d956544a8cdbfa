"""Typed settings for training: one model per recipe, resolved from presets, files and overrides.

Every hyperparameter lives in its recipe's settings with the reference code's default. Presets are
YAML files in ``sigctl/presets/<recipe>/``: a preset and an optional user config file are
deep-merged over these defaults, and the resolved settings are written next to every run.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Union

import yaml
from pydantic import Field, TypeAdapter, ValidationError

from sigctl.config.common import AdamSettings, LossSettings, RunSettings, Settings  # noqa: F401  (part of the settings)
from sigctl.config.consingan import ConSinGANNetworkSettings, ConSinGANOptimizerSettings, ConSinGANSettings, StageSettings  # noqa: F401
from sigctl.config.involution import InvolutionLossSettings, InvolutionNetworkSettings, InvolutionOptimizerSettings, InvolutionSettings  # noqa: F401
from sigctl.config.petsgan import PetsGANLossSettings, PetsGANNetworkSettings, PetsGANOptimizerSettings, PetsGANSettings  # noqa: F401
from sigctl.config.singan import (  # noqa: F401
    SR_RECONSTRUCTION_WEIGHT,
    SR_STEP_FACTOR,
    OptimizerSettings,
    PyramidSettings,
    SinGANSettings,
)
from sigctl.core.models.singan_config import NetworkSettings, PaddingMode  # noqa: F401
from sigctl.errors import SettingsError

TrainSettings = Annotated[Union[SinGANSettings, ConSinGANSettings, InvolutionSettings, PetsGANSettings], Field(discriminator="recipe")]
SETTINGS_CLASSES: dict[str, type[RunSettings]] = {"singan": SinGANSettings, "consingan": ConSinGANSettings, "involution": InvolutionSettings, "petsgan": PetsGANSettings}
RECIPE_NAMES = tuple(SETTINGS_CLASSES)
DEFAULT_RECIPE = "singan"
_TRAIN_SETTINGS = TypeAdapter(TrainSettings)


def preset_names(recipe: str = DEFAULT_RECIPE) -> list[str]:
    """Names of the bundled presets of ``recipe``."""
    folder = resources.files("sigctl") / "presets" / recipe
    if recipe not in RECIPE_NAMES or not folder.is_dir():
        return []
    return sorted(entry.name.removesuffix(".yaml") for entry in folder.iterdir() if entry.name.endswith(".yaml"))


def load_settings(preset: str = "paper", config_file: Path | None = None, overrides: dict[str, Any] | None = None) -> TrainSettings:
    """Resolve settings: defaults <- the recipe's preset <- config file <- overrides (each deep-merged).

    The recipe is the one the overrides or the config file name (default singan); its presets apply.
    """
    from_file = read_config_file(config_file) if config_file is not None else {}
    recipe = resolve_recipe(from_file, overrides)
    if preset not in preset_names(recipe):
        raise SettingsError(f"unknown preset {preset!r} for recipe {recipe}; available: {', '.join(preset_names(recipe))}")
    merged = _read_yaml_text((resources.files("sigctl") / "presets" / recipe / f"{preset}.yaml").read_text(), f"preset {recipe}/{preset}")
    merged = _deep_merge({**merged, "recipe": recipe}, from_file)
    merged = _deep_merge(merged, overrides or {})
    return settings_from_dict(merged, source=str(config_file or f"preset {recipe}/{preset}"))


def resolve_recipe(config_values: dict[str, Any], overrides: dict[str, Any] | None) -> str:
    """The recipe the overrides name, else the config file's, else singan; refused if unknown."""
    recipe = (overrides or {}).get("recipe") or config_values.get("recipe") or DEFAULT_RECIPE
    if recipe not in RECIPE_NAMES:
        raise SettingsError(f"unknown recipe {recipe!r}; available: {', '.join(RECIPE_NAMES)}")
    return recipe


def set_path(values: dict[str, Any], path: tuple[str, ...], value: Any) -> dict[str, Any]:
    """``values`` with the nested key ``path`` set (e.g. ("optimizer", "iterations_per_stage"))."""
    if len(path) == 1:
        return {**values, path[0]: value}
    return {**values, path[0]: set_path(dict(values.get(path[0]) or {}), path[1:], value)}


def get_path(settings: Settings, path: tuple[str, ...]) -> Any:
    """The setting at the nested key ``path`` of resolved settings."""
    value: Any = settings
    for key in path:
        value = getattr(value, key)
    return value


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
    """Validate a settings mapping (recipe singan when it names none), with one readable message."""
    if isinstance(values, dict) and "recipe" not in values:
        values = {**values, "recipe": DEFAULT_RECIPE}
    try:
        return _TRAIN_SETTINGS.validate_python(values)
    except ValidationError as error:
        problems = "; ".join(f"{_location(item['loc'])}: {item['msg']}" for item in error.errors())
        raise SettingsError(f"invalid settings in {source}: {problems}") from None


def _location(loc: tuple) -> str:
    # A tagged union reports locations under the member's tag ("singan.network..."): that is the recipe.
    parts = [str(part) for part in loc]
    if parts and parts[0] in RECIPE_NAMES:
        parts = parts[1:]
    return ".".join(parts) or "recipe"


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
