"""Answering requests from an exported model version with numpy and onnxruntime (no torch).

A version folder holds ``model_spec.json`` (``sigctl.serving.spec``: the model's stages, noise,
modes, graphs and limits), ``arrays.npz`` (the training image and the reconstruction path's first
input) and the graphs the spec names under ``graphs/``. ``ModelRuntime`` is an ``Executor``: every
request is answered by ``sigctl.core.operations``, the same code as in process.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from sigctl.core.model import GraphSpec
from sigctl.core.operations import MODE_SAMPLE, Cancelled, Request, execute
from sigctl.core.requests import RequestLimits
from sigctl.core.stages import Executor
from sigctl.errors import ArtifactError
from sigctl.serving.spec import ARRAYS_FILE, SERVED_PRECISIONS, ServedSpec, graph_path

log = logging.getLogger(__name__)


class OnnxEngine:
    """Runs ONNX graphs by name; the CUDA provider when asked for and available.

    With ``io_binding`` (the default) a graph's output stays where the provider made it (GPU memory
    under CUDA) as an OrtValue and is bound as the next graph's input: only the noise and the final
    image cross between host and device. Without, every call copies its inputs in and its output
    out (the plain ``session.run`` path; the same results, kept for comparison).
    """

    name = "onnx"

    def __init__(
        self, folder: Path, graphs: tuple[GraphSpec, ...], use_gpu: bool, device_id: int, threads: int, io_binding: bool = True,
        precision: str = "fp32",
    ):
        import onnxruntime as ort

        if precision != "fp32":
            raise ArtifactError(f"ONNX graphs are served in fp32 only; {precision} runs the TorchScript graphs (engine torchscript)")
        self.ort = ort
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # onnxruntime's arena keeps the peak of every request for good: measured on a 4 x 2048x2048
        # request, peak 2.1 GB and 1.9 GB held after with it, 1.0 GB and 0.3 GB without, same speed
        # (and 3 % slower at 128 px).
        options.enable_cpu_mem_arena = False
        # Spinning worker threads burn the cores between the many small per-stage calls and fight the
        # noise generation for them: off, a 128 px sample took 58 ms instead of 256 ms on 2 cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        providers: list = ["CPUExecutionProvider"]
        if use_gpu and "CUDAExecutionProvider" in ort.get_available_providers():
            # HEURISTIC: the default re-benchmarks convolutions for every new input size (hundreds of ms each).
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device_id, "cudnn_conv_algo_search": "HEURISTIC"}))
        self.sessions = {g.name: ort.InferenceSession(str(graph_path(folder, g.name, "onnx")), options, providers=providers) for g in graphs}
        self.providers = next(iter(self.sessions.values())).get_providers()
        self.io_binding = io_binding
        self.device_type = "cuda" if self.providers[0] == "CUDAExecutionProvider" else "cpu"
        self.device_id = device_id if self.device_type == "cuda" else 0

    def run(self, graph: GraphSpec, inputs: tuple):
        """The graph's output: an OrtValue on the provider's device with ``io_binding``, else numpy.
        Inputs are numpy arrays or OrtValues an earlier call returned."""
        session = self.sessions[graph.name]
        try:
            if not self.io_binding:
                return session.run(None, dict(zip(graph.inputs, (self.to_host(value) for value in inputs))))[0]
            binding = session.io_binding()
            for name, value in zip(graph.inputs, inputs):
                if isinstance(value, self.ort.OrtValue):
                    binding.bind_ortvalue_input(name, value)
                else:
                    binding.bind_cpu_input(name, value)
            binding.bind_output(graph.outputs[0], self.device_type, self.device_id)
            session.run_with_iobinding(binding)
            return binding.get_outputs()[0]
        except Exception as error:
            # onnxruntime reports a failed allocation as a generic failure; it is a resource problem.
            if "Failed to allocate memory" in str(error) or "bad_alloc" in str(error):
                raise MemoryError(str(error).splitlines()[0]) from None
            raise

    def to_host(self, value) -> np.ndarray:
        return value.numpy() if isinstance(value, self.ort.OrtValue) else value


class TorchScriptEngine:
    """Runs TorchScript graphs by name; needs torch in the serving environment. Outputs stay on the
    device as tensors and go in as the next graph's input."""

    name = "torchscript"

    def __init__(
        self, folder: Path, graphs: tuple[GraphSpec, ...], use_gpu: bool, device_id: int, threads: int, io_binding: bool = True,
        precision: str = "fp32",
    ):
        import warnings

        import torch

        from sigctl.core.precision import bf16_unsupported_reason

        self.torch = torch
        self.device = torch.device(f"cuda:{device_id}" if use_gpu and torch.cuda.is_available() else "cpu")
        if threads and self.device.type == "cpu":
            torch.set_num_threads(threads)  # process-wide: a served model is a process of its own
        if precision == "bf16" and (reason := bf16_unsupported_reason(self.device)) is not None:
            log.warning("%s is exported for bf16 but %s; serving it in fp32", folder, reason)
            precision = "fp32"
        # bf16: autocast runs the traced convolutions in bfloat16 and everything else (the residual
        # sums, tanh, the state between stages) in float32; the graphs themselves are the fp32 ones.
        self.precision = precision
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript's deprecation notice
            self.modules = {g.name: torch.jit.load(str(graph_path(folder, g.name, "torchscript")), map_location=self.device) for g in graphs}
        self.providers = [str(self.device)]

    def run(self, graph: GraphSpec, inputs: tuple):
        with self.torch.no_grad(), self.torch.autocast(self.device.type, dtype=self.torch.bfloat16, enabled=self.precision == "bf16"):
            tensors = (value if isinstance(value, self.torch.Tensor) else self.torch.from_numpy(value) for value in inputs)
            return self.modules[graph.name](*(tensor.to(self.device) for tensor in tensors)).float()

    def to_host(self, value) -> np.ndarray:
        return value.cpu().numpy() if isinstance(value, self.torch.Tensor) else value


ENGINES = {"onnx": OnnxEngine, "torchscript": TorchScriptEngine}


class ModelRuntime(Executor):
    """An exported model version, ready to answer requests."""

    def __init__(
        self, folder: str | Path, engine: str | None = None, use_gpu: bool = False, device_id: int = 0, threads: int = 0,
        limits: RequestLimits | None = None, io_binding: bool = True, precision: str | None = None,
    ):
        """``limits`` default to the ones in the version's spec; the served model passes those its config
        publishes. ``io_binding``: keep states where the graphs run (see ``OnnxEngine``).

        ``precision`` defaults to the version's (``fp32``, or ``bf16`` for its TorchScript graphs); export passes
        ``fp32`` to check a bf16 version's graphs against PyTorch before measuring what bf16 changes.
        """
        folder = Path(folder)
        self.served = ServedSpec.read(folder)
        self.spec = self.served.model
        try:
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as stored:
                self.reference_image = stored["reference"]
                self.first_reconstruction_input = stored["reconstruction_input"]
        except (OSError, ValueError, KeyError) as error:
            raise ArtifactError(f"{folder} is not a complete sigctl model version ({error}); export it again") from None
        self.limits = limits or self.served.limits
        formats, asked = self.served.formats, precision
        precision = asked or self.served.precision
        if precision not in SERVED_PRECISIONS:
            raise ArtifactError(f"precision must be one of {list(SERVED_PRECISIONS)}, not {precision!r}")
        chosen = engine or ("torchscript" if precision == "bf16" else "onnx" if "onnx" in formats else formats[0])
        if chosen not in formats:
            raise ArtifactError(f"{folder} has no {chosen} graphs (it has {list(formats)}); export with --format {chosen} or both")
        # A bf16 version's ONNX graphs (if any) are its fp32 fallback: asked for by name they run in
        # fp32, and asking for ONNX in bf16 explicitly is refused by the ONNX engine.
        self.engine = ENGINES[chosen](
            folder, self.spec.graphs, use_gpu, device_id, threads, io_binding, precision if chosen == "torchscript" or asked else "fp32"
        )
        self._to_rgb = self.spec.to_rgb_graph()
        log.info("loaded %s (%s, %d stages) with %s on %s", folder, self.spec.recipe, self.spec.num_stages, chosen, self.engine.providers)

    def handle(self, request: Request, cancelled: Cancelled | None = None) -> np.ndarray:
        """Answer a request with NxHxWx3 uint8 images (frames, for animate); see ``execute``."""
        return execute(self, request, self.limits, cancelled)

    def sample(self, num_samples: int, seed: int, height: int | None = None, width: int | None = None, start_scale: int = 0) -> np.ndarray:
        """Random samples as NxHxWx3 uint8: what ``sigctl.core.in_process.sample_images`` gives, within float rounding."""
        return self.handle(Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale))

    # -- the Executor interface (sigctl.core.stages) ----------------------------------------------------
    def run_stage(self, stage: int, state, noise):
        graph = self.spec.stage_graph(stage)
        named = {"previous": state, "noise": noise}
        return self.engine.run(graph, tuple(_engine_input(named[name]) for name in graph.inputs))

    def upsample(self, state):
        return self.engine.run(self.spec.upsampler_graph(), (_engine_input(state),))

    def state_to_rgb(self, state) -> np.ndarray:
        if self._to_rgb is None:
            return self.to_host(state)
        return self.to_host(self.engine.run(self._to_rgb, (_engine_input(state),)))

    def to_host(self, state) -> np.ndarray:
        return self.engine.to_host(state)

    def reconstruction_input(self) -> np.ndarray:
        return self.first_reconstruction_input

    def reference(self) -> np.ndarray:
        return self.reference_image


def _engine_input(value):
    """A host array as the graphs' float32, contiguous; an engine's own value as it is."""
    return np.ascontiguousarray(value, dtype=np.float32) if isinstance(value, np.ndarray) else value
