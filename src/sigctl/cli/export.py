"""``sigctl export``: a trained run -> a new version in a Triton model repository."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from sigctl.cli.common import command, console
from sigctl.errors import SettingsError
from sigctl.export.exporter import FORMATS, export_artifact


@command
def export_command(
    run: Annotated[Path, typer.Argument(help="Run directory written by 'sigctl train'.")],
    repo: Annotated[Path, typer.Option(help="Triton model repository.")] = Path("model_repository"),
    name: Annotated[Optional[str], typer.Option(help="Model name [default: the training image's name].")] = None,
    format: Annotated[str, typer.Option("--format", help="onnx, torchscript or both.")] = "both",
    instances: Annotated[int, typer.Option(help="Model instances Triton runs (processes).")] = 1,
    native_repo: Annotated[Optional[Path], typer.Option(help="Also publish each scale for Triton's native onnxruntime/libtorch backends here.")] = None,
    precision: Annotated[str, typer.Option(help="fp32, or bf16: serve the TorchScript graphs under bf16 autocast (measured and published; needs torchscript).")] = "fp32",
) -> None:
    """Export every scale to ONNX/TorchScript, check parity with PyTorch, publish a new version."""
    formats = FORMATS if format == "both" else (format,)
    if any(f not in FORMATS for f in formats):
        raise SettingsError(f"--format must be onnx, torchscript or both, not {format!r}")
    if instances < 1:
        raise SettingsError("--instances must be at least 1")
    result = export_artifact(run, repo, name, formats, instance_count=instances, native_repository=native_repo, precision=precision)
    parity = ", ".join(f"{fmt} max |diff| {value:.1e}" for fmt, value in result.parity.items())
    if result.precision_difference is not None:
        measured = result.precision_difference
        parity += f"; bf16 mean |diff| {measured['mean_levels']:.2f} levels, max {measured['max_levels']:.0f}"
    console.print(f"published {result.name} version {result.version} -> {result.folder} in {result.seconds:.1f} s ({parity} vs PyTorch)")
    if result.native_models:
        console.print(f"native per-scale models in {native_repo}: {', '.join(result.native_models)}")
