"""Save and load artifacts. One ``load`` validates and upgrades everything before any weight is used."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sigctl import __version__
from sigctl.artifact import files, legacy
from sigctl.artifact.manifest import FORMAT_VERSION, ImageInfo, Manifest, ModelEntry
from sigctl.core.images import MAX_TRAINING_PIXELS, load_rgb
from sigctl.core.in_process import TorchExecutor
from sigctl.core.model import ModelSpec
from sigctl.core.models import GenerativeModel, build_model
from sigctl.errors import ArtifactError


@dataclass
class Artifact:
    """A loaded, validated artifact."""

    path: Path
    manifest: Manifest
    model: GenerativeModel

    @property
    def spec(self) -> ModelSpec:
        return self.model.spec(self.manifest.recipe)

    def executor(self) -> TorchExecutor:
        """What ``sigctl.core.operations.execute`` runs in process: the model and its training image."""
        reference = load_rgb(self.path / files.REFERENCE, max_pixels=MAX_TRAINING_PIXELS)
        return TorchExecutor(self.model, reference, self.manifest.recipe)


def save(
    run_dir: Path, model: GenerativeModel, settings: BaseModel | dict[str, Any], image: ImageInfo, training_seconds: float, device: str
) -> Manifest:
    """Write the model's tensors, then the manifest last: a manifest means a complete artifact.

    ``settings`` (the training settings, with a ``recipe``; a model or its JSON form) are stored as
    provenance. The reference image and the reports must already be in ``run_dir``; they are
    checksummed here.
    """
    run_dir = Path(run_dir)
    training = settings if isinstance(settings, dict) else settings.model_dump(mode="json")
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    files.write_atomic(run_dir / files.MODEL_WEIGHTS, lambda tmp: save_file(tensors, str(tmp)))
    manifest = Manifest(
        package_version=__version__,
        recipe=str(training["recipe"]),
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        training_seconds=round(training_seconds, 2),
        device=device,
        image=image,
        model=ModelEntry(class_name=model.model_class, config=model.config.model_dump(mode="json")),
        training=training,
        files={
            name: files.sha256_of(run_dir / name)
            for name in (*files.REQUIRED_FILES, *files.REPORT_FILES)
            if (run_dir / name).exists()
        },
    )
    files.write_json_atomic(run_dir / files.MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def read_raw_manifest(path: Path) -> tuple[dict[str, Any], int]:
    """The manifest's JSON and its format version, checked to be one this sigctl reads."""
    path = Path(path)
    if not path.is_dir():
        raise ArtifactError(f"{path} is not a directory; give the run directory written by 'sigctl train'")
    manifest_path = path / files.MANIFEST
    if not manifest_path.exists():
        hint = " (training did not finish: resume it with 'sigctl train --resume')" if (path / files.CHECKPOINTS).exists() else ""
        raise ArtifactError(f"{manifest_path} is missing: {path} is not a finished sigctl artifact{hint}")
    try:
        raw = json.loads(manifest_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ArtifactError(f"{manifest_path} is corrupted (not valid JSON: {error}); retrain or restore the file") from None
    version = raw.get("format_version") if isinstance(raw, dict) else None
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise ArtifactError(f"{manifest_path} has no valid format_version; it was not written by sigctl")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path} has format version {version}, newer than this sigctl reads ({FORMAT_VERSION}); upgrade sigctl"
        )
    return raw, version


def read_manifest(path: Path) -> Manifest:
    """Read, upgrade and validate ``path/manifest.json`` (format version, schema)."""
    raw, version = read_raw_manifest(path)
    if version < FORMAT_VERSION:
        raw = legacy.upgrade_manifest(raw, version)
    try:
        return Manifest.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        raise ArtifactError(f"{Path(path) / files.MANIFEST} does not match the manifest schema: {first['msg']} at {first['loc']}") from None


def required_files(version: int) -> tuple[str, ...]:
    return (*legacy.LEGACY_REQUIRED_FILES, files.REFERENCE) if version < FORMAT_VERSION else files.REQUIRED_FILES


def verify_checksums(path: Path, manifest: Manifest, version: int = FORMAT_VERSION) -> None:
    """Every required file must exist and match; report files are checked when present."""
    for name in required_files(version):
        if not (path / name).exists():
            raise ArtifactError(f"{path / name} is missing; the artifact is incomplete (retrain, or restore the file)")
        if name not in manifest.files:
            raise ArtifactError(f"{path / files.MANIFEST} lists no checksum for {name}; the manifest is damaged")
    for name, expected in manifest.files.items():
        file = path / name
        if file.exists() and files.sha256_of(file) != expected:
            raise ArtifactError(f"{file} does not match its checksum in the manifest; the file is corrupted or was replaced")


def load(path: str | Path, device: str | torch.device = "cpu") -> Artifact:
    """Load an artifact of any format, validating manifest, checksums and tensor shapes first."""
    path = Path(path)
    raw, version = read_raw_manifest(path)
    manifest = read_manifest(path)
    verify_checksums(path, manifest, version)
    model = build_model(manifest.model.class_name, manifest.model.config)
    try:
        tensors = load_file(str(path / files.MODEL_WEIGHTS)) if version == FORMAT_VERSION else legacy.legacy_tensors(path, raw)
        model.load_state_dict(tensors, strict=True)
    except (SafetensorError, RuntimeError, KeyError, TypeError) as error:
        raise ArtifactError(f"{path}: weights do not fit the manifest ({str(error).splitlines()[0]}); the artifact is damaged") from None
    return Artifact(path=path, manifest=manifest, model=model.to(device))
