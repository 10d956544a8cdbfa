"""The manifest schema: which model, built from which config, trained how, and every file's checksum.

Format 3 stores the model as its class name and its own config (``sigctl.core.models``); the
training settings are kept as provenance, never validated on load, so renaming a training setting
cannot orphan an artifact. Formats 1 and 2 (SinGAN only, settings validated) are upgraded by
``sigctl.artifact.legacy``.
"""

from __future__ import annotations

from typing import Any, Optional

from pydantic import BaseModel, ConfigDict, Field, field_validator

FORMAT_VERSION = 3


class ImageInfo(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source_name: str = Field(description="File name of the training image as given.")
    source_sha256: str = Field(description="SHA-256 of the training image file.")
    source_height: Optional[int] = Field(None, description="Height of the image file, px (the reference plan counts scales on it); null before format 2.")
    source_width: Optional[int] = Field(None, description="Width of the image file, px; null before format 2.")
    height: int = Field(description="Height after fitting to the maximum size, px.")
    width: int = Field(description="Width after fitting to the maximum size, px.")


class ModelEntry(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    class_name: str = Field(description="Model class (sigctl.core.models.MODEL_CLASSES).")
    config: dict[str, Any] = Field(description="The model's own config; validated by the model class when it is built.")


class Manifest(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    format_version: int = Field(FORMAT_VERSION, description="Artifact format; loaders refuse newer ones.")
    package_version: str = Field(description="sigctl version that wrote the artifact.")
    recipe: str = Field(description="Training recipe.")
    created_at: str = Field(description="UTC time the artifact was written, ISO 8601.")
    training_seconds: float = Field(description="Wall time spent training, s (summed over resumed sessions).")
    device: str = Field(description="Device the training ran on.")
    image: ImageInfo
    model: ModelEntry
    training: dict[str, Any] = Field(default_factory=dict, description="The training settings as resolved (provenance; not validated on load).")
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
    def name_hint(self) -> str:
        return self.image.source_name.rsplit(".", 1)[0]
