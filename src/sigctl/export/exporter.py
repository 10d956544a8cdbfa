"""``sigctl export``: an artifact -> a new, parity-checked version in a Triton model repository."""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

import sigctl
from sigctl import artifact
from sigctl.artifact import files
from sigctl.core.in_process import TorchExecutor
from sigctl.core.operations import MODE_SAMPLE, Request, sample_float
from sigctl.core.requests import RequestLimits
from sigctl.errors import ArtifactError
from sigctl.evaluation.record import read_run_scores
from sigctl.export import graphs
from sigctl.export.native import native_model_names, publish_native
from sigctl.export.repository import check_model_folder, check_model_name, publish_version
from sigctl.export.triton_config import TritonModelConfig
from sigctl.serving import runtime
from sigctl.serving.spec import ARRAYS_FILE, SERVED_PRECISIONS, ServedSpec, graph_path

log = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
# The torch-free modules a served version needs, copied into it (see serving/model.py). A test
# imports the runtime from a copied version with torch blocked, so a missing one fails there.
RUNTIME_MODULES = (
    "__init__.py", "errors.py", "core/__init__.py", "core/noise.py", "core/pixels.py", "core/requests.py",
    "core/scales.py", "core/model.py", "core/stages.py", "core/sampling.py", "core/injection.py", "core/masks.py",
    "core/super_resolution.py", "core/animation.py", "core/operations.py",
    "core/precision.py",  # imports torch: only the TorchScript engine (which needs torch anyway) imports it
    "serving/__init__.py", "serving/contract.py", "serving/spec.py", "serving/runtime.py",
)
PARITY_TOLERANCE = 1e-3  # max |difference| in [-1, 1] units; measured ~1e-5 for ONNX, 0 for TorchScript
# bf16 versions: the mean |difference| from fp32 PyTorch over the parity cases, in levels of 255.
# Measured 0.21 levels (max 3.5) on the tiny trained test model; a version over this is refused:
# its samples would no longer be the model's.
BF16_MEAN_TOLERANCE_LEVELS = 2.0


@dataclass
class ExportResult:
    name: str
    version: int
    folder: Path
    formats: tuple[str, ...]
    parity: dict[str, float] = field(default_factory=dict)  # format -> worst max |diff| over the checks
    seconds: float = 0.0
    native_models: list[str] = field(default_factory=list)
    precision_difference: dict[str, float] | None = None  # bf16 versions: measured against fp32 PyTorch


def export_artifact(
    run_dir: Path,
    repository: Path,
    name: str | None = None,
    formats: tuple[str, ...] = FORMATS,
    limits: RequestLimits = RequestLimits(),
    instance_count: int = 1,
    native_repository: Path | None = None,
    precision: str = "fp32",
) -> ExportResult:
    """Export every graph the model names in ``formats``, check them against PyTorch, and publish a
    new version.

    With ``native_repository``, every graph is also published there as a model for Triton's
    native backends (see ``sigctl.export.native``). ``precision`` ``bf16`` serves the TorchScript
    graphs under bf16 autocast; what that changes is measured here and published with the version.
    """
    if precision not in SERVED_PRECISIONS:
        raise ArtifactError(f"precision must be one of {list(SERVED_PRECISIONS)}, not {precision!r}")
    if precision == "bf16" and "torchscript" not in formats:
        raise ArtifactError("bf16 serving runs the TorchScript graphs: export with --format torchscript or both")
    started = time.perf_counter()
    loaded = artifact.load(run_dir)
    model, manifest, executor = loaded.model.eval(), loaded.manifest, loaded.executor()
    name = check_model_name(name or _default_name(manifest.name_hint))
    check_model_folder(Path(repository) / name)  # before any work: never into someone else's folder
    for native_name in native_model_names(name, executor.spec.graphs, tuple(formats)) if native_repository else ():
        check_model_folder(Path(native_repository) / native_name)
    served = ServedSpec(executor.spec, limits, tuple(formats), _provenance(name, manifest, Path(run_dir)), read_run_scores(Path(run_dir)), precision)
    parity: dict[str, float] = {}

    def build(folder: Path) -> None:
        nonlocal served
        for graph in model.export_graphs():
            if "onnx" in formats:
                graphs.export_onnx(graph, graph_path(folder, graph.spec.name, "onnx"))
            if "torchscript" in formats:
                graphs.export_torchscript(graph, graph_path(folder, graph.spec.name, "torchscript"))
        np.savez(folder / ARRAYS_FILE, reference=executor.reference(), reconstruction_input=executor.reconstruction_input())
        served.write(folder)
        _copy_runtime(folder)
        for fmt in formats:
            parity[fmt] = check_parity(executor, folder, fmt)
        if precision == "bf16":
            served = replace(served, precision_difference=measure_bf16(executor, folder))
            served.write(folder)

    def config_text() -> str:  # after the build: a bf16 version publishes what it measured
        return TritonModelConfig(name=name, instance_count=instance_count, parameters=served.config_parameters()).to_pbtxt()

    version = publish_version(repository, name, build, config_text)
    folder = Path(repository) / name / str(version)
    native_models = publish_native(folder, native_repository, name, tuple(formats)) if native_repository else []
    return ExportResult(name, version, folder, tuple(formats), parity, time.perf_counter() - started, native_models, served.precision_difference)


def parity_cases(layout) -> list[tuple[int, int, int]]:
    """(height, width, start stage): the training size, odd sizes, and coarse-to-fine start stages."""
    height, width = layout.finest_size
    last = layout.num_scales - 1
    return [(height, width, 0), (37, 251, 0), (height + 7, width - 5, min(1, last)), (height, width, last)]


def parity_requests(spec, seed: int, num_samples: int) -> list[Request]:
    """Samples at ``parity_cases``, and through the learned upsampler (UPSCALE 2 at an odd generated size) where the model has one."""
    requests = [Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale) for height, width, start_scale in parity_cases(spec.layout)]
    if spec.upsampler_graph() is not None:
        requests.append(Request(MODE_SAMPLE, seed, num_samples, 2 * 37, 2 * 51, 0, upscale=2))
    return requests


def check_parity(executor: TorchExecutor, folder: Path, fmt: str, seed: int = 0, num_samples: int = 2) -> float:
    """Worst max |served - eager| over ``parity_requests`` in fp32; raises if above PARITY_TOLERANCE."""
    served = runtime.ModelRuntime(folder, engine=fmt, precision="fp32")
    worst = 0.0
    for request in parity_requests(executor.spec, seed, num_samples):
        difference = float(np.abs(sample_float(executor, request) - sample_float(served, request)).max())
        worst = max(worst, difference)
        if difference > PARITY_TOLERANCE:
            raise ArtifactError(
                f"{fmt} export differs from PyTorch by {difference:.2e} at {request.height}x{request.width} from stage {request.start_scale}"
                f"{f' upscaled {request.upscale}x' if request.upscale > 1 else ''} (tolerance {PARITY_TOLERANCE}); nothing was published"
            )
    return worst


def measure_bf16(executor: TorchExecutor, folder: Path, seed: int = 0, num_samples: int = 2) -> dict[str, float]:
    """How far the version's bf16 samples are from fp32 PyTorch over ``parity_requests``, in levels of 255.

    Raises if the mean exceeds BF16_MEAN_TOLERANCE_LEVELS (nothing is published then). On a machine
    without bf16 the version is served in fp32, and this measures 0.
    """
    served = runtime.ModelRuntime(folder, engine="torchscript", precision="bf16")
    differences = []
    for request in parity_requests(executor.spec, seed, num_samples):
        differences.append(np.abs(sample_float(executor, request) - sample_float(served, request)).ravel() * 127.5)
    levels = np.concatenate(differences)
    measured = {"mean_levels": float(levels.mean()), "max_levels": float(levels.max()), "share_over_2_levels": float((levels > 2).mean())}
    if measured["mean_levels"] > BF16_MEAN_TOLERANCE_LEVELS:
        raise ArtifactError(
            f"bf16 samples differ from fp32 by {measured['mean_levels']:.2f} levels on average (tolerance {BF16_MEAN_TOLERANCE_LEVELS}); "
            "nothing was published: export this model in fp32"
        )
    return measured


def _default_name(hint: str) -> str:
    cleaned = "".join(c if c.isalnum() or c in "_-." else "_" for c in hint).strip("_.-")
    return cleaned or "model"


def _provenance(name: str, manifest, run_dir: Path) -> dict:
    return {
        "name": name,
        "sigctl_version": sigctl.__version__,
        "exported_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "artifact_manifest_sha256": files.sha256_of(run_dir / files.MANIFEST),
        "training_image": manifest.image.source_name,
        "training_seconds": manifest.training_seconds,
    }


def _copy_runtime(folder: Path) -> None:
    package = Path(sigctl.__file__).parent
    for module in RUNTIME_MODULES:
        target = folder / "sigctl" / module
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(package / module, target)
    shutil.copyfile(package / "serving" / "model.py", folder / "model.py")
