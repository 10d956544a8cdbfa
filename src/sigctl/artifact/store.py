"""Save and load artifacts. One ``load`` validates everything before any weight is used."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from pydantic import ValidationError
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from sigctl import __version__
from sigctl.artifact import files
from sigctl.artifact.manifest import FORMAT_VERSION, ImageInfo, Manifest, ScaleInfo, upgrade
from sigctl.config import TrainSettings
from sigctl.core.images import MAX_TRAINING_PIXELS, load_rgb
from sigctl.core.pyramid import Pyramid, TorchExecutor
from sigctl.errors import ArtifactError


@dataclass
class Artifact:
    """A loaded, validated artifact."""

    path: Path
    manifest: Manifest
    pyramid: Pyramid

    def executor(self) -> TorchExecutor:
        """What ``sigctl.core.operations.execute`` runs in process: the pyramid and its training image."""
        reference = load_rgb(self.path / files.REFERENCE, max_pixels=MAX_TRAINING_PIXELS)
        return TorchExecutor(self.pyramid, reference, self.manifest.super_resolution_factor)


def save(
    run_dir: Path,
    pyramid: Pyramid,
    settings: TrainSettings,
    image: ImageInfo,
    training_seconds: float,
    device: str,
) -> Manifest:
    """Write weights and noise, then the manifest last: a manifest means a complete artifact.

    The reference image and the reports must already be in ``run_dir``; they are checksummed here.
    """
    run_dir = Path(run_dir)
    generators = {k: v.detach().cpu().contiguous() for k, v in pyramid.generators.state_dict().items()}
    files.write_atomic(run_dir / files.GENERATORS, lambda tmp: save_file(generators, str(tmp)))
    noise = {"reconstruction_noise": pyramid.reconstruction_noise.detach().cpu().contiguous()}
    files.write_atomic(run_dir / files.NOISE, lambda tmp: save_file(noise, str(tmp)))
    amplitudes = pyramid.noise_amplitudes.tolist()
    manifest = Manifest(
        package_version=__version__,
        recipe=settings.recipe,
        created_at=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        training_seconds=round(training_seconds, 2),
        device=device,
        image=image,
        scale_factor=pyramid.layout.scale_factor,
        size_rounding=pyramid.layout.size_rounding,
        super_resolution_factor=settings.super_resolution_factor,
        scales=[
            ScaleInfo(index=n, height=h, width=w, channels=settings.network.channels_at(n), noise_amplitude=amplitudes[n])
            for n, (h, w) in enumerate(pyramid.layout.sizes)
        ],
        network=settings.network,
        training=settings,
        files={
            name: files.sha256_of(run_dir / name)
            for name in (*files.REQUIRED_FILES, files.SAMPLES, files.LOSS_PLOT, files.LOSS_LOG)
            if (run_dir / name).exists()
        },
    )
    files.write_json_atomic(run_dir / files.MANIFEST, manifest.model_dump(mode="json"))
    return manifest


def read_manifest(path: Path) -> Manifest:
    """Read and validate ``path/manifest.json`` (format version, schema)."""
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
    if not isinstance(version, int):
        raise ArtifactError(f"{manifest_path} has no format_version; it was not written by sigctl")
    if version > FORMAT_VERSION:
        raise ArtifactError(
            f"{manifest_path} has format version {version}, newer than this sigctl reads ({FORMAT_VERSION}); upgrade sigctl"
        )
    try:
        return Manifest.model_validate(upgrade(raw))
    except ValidationError as error:
        raise ArtifactError(f"{manifest_path} does not match the manifest schema: {error.errors()[0]['msg']} at {error.errors()[0]['loc']}") from None


def verify_checksums(path: Path, manifest: Manifest) -> None:
    """Every required file must exist and match; report files are checked when present."""
    for name in files.REQUIRED_FILES:
        if not (path / name).exists():
            raise ArtifactError(f"{path / name} is missing; the artifact is incomplete (retrain, or restore the file)")
        if name not in manifest.files:
            raise ArtifactError(f"{path / files.MANIFEST} lists no checksum for {name}; the manifest is damaged")
    for name, expected in manifest.files.items():
        file = path / name
        if file.exists() and files.sha256_of(file) != expected:
            raise ArtifactError(f"{file} does not match its checksum in the manifest; the file is corrupted or was replaced")


def load(path: str | Path, device: str | torch.device = "cpu") -> Artifact:
    """Load an artifact, validating manifest, checksums and tensor shapes first."""
    path = Path(path)
    manifest = read_manifest(path)
    verify_checksums(path, manifest)
    pyramid = Pyramid.with_scales(manifest.layout, manifest.network, [s.noise_amplitude for s in manifest.scales])
    try:
        pyramid.generators.load_state_dict(load_file(str(path / files.GENERATORS)), strict=True)
        noise = load_file(str(path / files.NOISE))
        pyramid.reconstruction_noise.copy_(noise["reconstruction_noise"])
    except (SafetensorError, RuntimeError, KeyError) as error:
        raise ArtifactError(f"{path}: weights do not fit the manifest ({str(error).splitlines()[0]}); the artifact is damaged") from None
    return Artifact(path=path, manifest=manifest, pyramid=pyramid.to(device))
