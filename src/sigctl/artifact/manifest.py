"""The manifest schema: everything needed to rebuild a pyramid without training defaults."""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sigctl.config import NetworkSettings, TrainSettings
from sigctl.core.scales import PyramidLayout, SizeRounding

FORMAT_VERSION = 2


class ScaleInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    index: int = Field(description="Scale index, 0 = coarsest.")
    height: int = Field(description="Training height at this scale, px.")
    width: int = Field(description="Training width at this scale, px.")
    channels: int = Field(description="Feature channels of the generator.")
    noise_amplitude: float = Field(description="Standard deviation the unit noise is scaled by.")


class ImageInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source_name: str = Field(description="File name of the training image as given.")
    source_sha256: str = Field(description="SHA-256 of the training image file.")
    source_height: Optional[int] = Field(None, description="Height of the image file, px (the reference plan counts scales on it); null before format 2.")
    source_width: Optional[int] = Field(None, description="Width of the image file, px; null before format 2.")
    height: int = Field(description="Height after fitting to the maximum size, px.")
    width: int = Field(description="Width after fitting to the maximum size, px.")


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = Field(FORMAT_VERSION, description="Artifact format; loaders refuse newer ones.")
    package_version: str = Field(description="sigctl version that wrote the artifact.")
    recipe: str = Field(description="Training recipe.")
    created_at: str = Field(description="UTC time the artifact was written, ISO 8601.")
    training_seconds: float = Field(description="Wall time spent training, s (summed over resumed sessions).")
    device: str = Field(description="Device the training ran on.")
    image: ImageInfo
    scale_factor: float = Field(description="Size ratio between neighbouring scales.")
    size_rounding: SizeRounding = Field("round", description="How scale sizes are rounded (ceil: the reference plan; round: format 1 and closest_factor).")
    super_resolution_factor: Optional[float] = Field(None, description="Upscaling factor the pyramid was trained for (sr recipe), else null.")
    scales: list[ScaleInfo] = Field(min_length=1)
    network: NetworkSettings
    training: TrainSettings
    files: dict[str, str] = Field(description="SHA-256 of every other file of the artifact, by file name.")

    @field_validator("files")
    @classmethod
    def _plain_file_names(cls, checksums: dict[str, str]) -> dict[str, str]:
        # The names become paths (run_dir / name): an artifact is flat, so each must be one plain name.
        for name in checksums:
            if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
                raise ValueError(f"file name {name!r} is not a plain file name inside the run directory")
        return checksums

    @property
    def layout(self) -> PyramidLayout:
        return PyramidLayout(
            sizes=tuple((s.height, s.width) for s in self.scales), scale_factor=self.scale_factor, size_rounding=self.size_rounding
        )

    @property
    def name_hint(self) -> str:
        return self.image.source_name.rsplit(".", 1)[0]


def upgrade(raw: dict[str, Any]) -> dict[str, Any]:
    """Bring an older manifest up to FORMAT_VERSION.

    Format 1 (sigctl 0.1) planned every pyramid by the closest factor with rounded sizes and had no
    plan setting: say so, so the settings read back describe what was trained.
    """
    if raw.get("format_version") == 1:
        training = dict(raw.get("training") or {})
        training["pyramid"] = {**(training.get("pyramid") or {}), "plan": "closest_factor"}
        raw = {**raw, "format_version": FORMAT_VERSION, "training": training, "size_rounding": "round"}
    return raw
