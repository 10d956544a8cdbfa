"""A pretrained generator the user supplies as PetsGAN's external prior (``--external-prior``).

The signature, checked before any work (a file that does not keep it is refused with what is wrong):

- a TorchScript file (``torch.jit.save``), a ``torch.export`` program (``torch.export.save``, name
  ending in ``.pt2``) or an ONNX file (name ending in ``.onnx``), at most ``MAX_FILE_BYTES``;
- one input: a float32 latent ``[B, D]`` (1 <= D <= ``MAX_LATENT``); ONNX and ``.pt2`` read D from
  the input's shape (its batch dimension dynamic, or 1); TorchScript from an integer ``latent_dim``
  attribute of the module (kept by ``torch.jit.script``) or, for a traced module, an extra file
  ``latent_dim`` (``torch.jit.save(module, path, _extra_files={"latent_dim": "120"})``);
- one output: the images ``[B, 3, H, W]``, float32, finite, in [-1, 1] (``RANGE_SLACK`` allowed, then
  clamped), 8 <= H, W <= ``MAX_SIDE``.

The probe runs two latents of a fixed seed through the file. TorchScript and ``.pt2`` run with
autograd (the inversion's gradient steps); onnxruntime cannot backpropagate, so an ONNX generator is inverted by
the gradient-free selection alone (``differentiable`` False).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from sigctl.errors import SettingsError

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 2 << 30  # 2 GiB: BigGAN-deep 512 is ~0.3 GB
MAX_LATENT = 4096
MAX_SIDE = 1024
RANGE_SLACK = 0.05
PROBE_SEED = 0
LATENT_DIM_FILE = "latent_dim"


@dataclass(frozen=True)
class GeneratorShape:
    latent_dim: int
    height: int
    width: int


class ExternalGenerator:
    """A validated user generator: ``generate(latents)`` -> images ``[B, 3, H, W]`` in [-1, 1] on ``device``."""

    def __init__(self, path: Path, device: torch.device = torch.device("cpu")):
        self.path, self.device = Path(path), device
        check_file(self.path)
        self.differentiable = self.path.suffix.lower() != ".onnx"
        self._batch: int | None = None  # ONNX, .pt2: a fixed batch dimension of 1, or None (dynamic)
        loaders = {".onnx": self._load_onnx, ".pt2": self._load_exported}
        self._module = loaders.get(self.path.suffix.lower(), self._load_torchscript)()
        self.shape = self._probe()

    # -- loading ----------------------------------------------------------------------------------------

    def _load_torchscript(self):
        extra = {LATENT_DIM_FILE: ""}
        try:
            module = torch.jit.load(str(self.path), map_location=self.device, _extra_files=extra)
        except Exception as error:  # noqa: BLE001 - torch raises RuntimeError, ValueError, zip errors...: all "not TorchScript"
            raise self._refuse(f"it is not a TorchScript file torch.jit.load can read ({_first_line(error)}); save it with torch.jit.save, or name a torch.export program *.pt2 or an ONNX file *.onnx") from None
        module.eval()
        declared = getattr(module, "latent_dim", None) if hasattr(module, "latent_dim") else extra[LATENT_DIM_FILE]
        try:
            self._latent_dim = int(declared.decode() if isinstance(declared, bytes) else declared)
        except (TypeError, ValueError):
            raise self._refuse(
                "it does not declare its latent size: give the module an integer attribute latent_dim (torch.jit.script keeps it) "
                "or save it with torch.jit.save(module, path, _extra_files={'latent_dim': 'D'})"
            ) from None
        return module

    def _load_exported(self):
        # torch logs its own traceback at WARNING before raising for a file that is not a program;
        # the refusal below says what is wrong in one line instead.
        export_log = logging.getLogger("torch.export")
        level = export_log.level
        export_log.setLevel(logging.ERROR)
        try:
            program = torch.export.load(str(self.path))
        except Exception as error:  # noqa: BLE001 - torch raises several types for a file that is not a saved program
            raise self._refuse(f"it is not a program torch.export.load can read ({_first_line(error)})") from None
        finally:
            export_log.setLevel(level)
        names = program.graph_signature.user_inputs
        inputs = [node.meta.get("val") for node in program.graph.nodes if node.op == "placeholder" and node.name in names]
        if len(inputs) != 1 or len(program.graph_signature.user_outputs) != 1:
            raise self._refuse(f"it has {len(inputs)} inputs and {len(program.graph_signature.user_outputs)} outputs; the signature is one latent in, one image out")
        shape = tuple(getattr(inputs[0], "shape", ()))
        if len(shape) != 2 or not isinstance(shape[1], int):
            raise self._refuse(f"its input has shape {list(shape)}; the signature is a float32 latent [B, D] with a fixed D")
        self._set_batch(shape[0])
        self._latent_dim = shape[1]
        return program.module().to(self.device)

    def _set_batch(self, batch) -> None:
        if isinstance(batch, int):
            if batch != 1:
                raise self._refuse(f"its batch dimension is fixed to {batch}; export it with a dynamic batch (or 1)")
            self._batch = 1

    def _load_onnx(self):
        import onnxruntime

        try:
            session = onnxruntime.InferenceSession(str(self.path), providers=["CPUExecutionProvider"])
        except Exception as error:  # noqa: BLE001 - onnxruntime raises its own exception types for every kind of bad file
            raise self._refuse(f"onnxruntime cannot load it ({_first_line(error)})") from None
        inputs, outputs = session.get_inputs(), session.get_outputs()
        if len(inputs) != 1 or len(outputs) != 1:
            raise self._refuse(f"it has {len(inputs)} inputs and {len(outputs)} outputs; the signature is one latent in, one image out")
        shape = inputs[0].shape
        if inputs[0].type != "tensor(float)" or len(shape) != 2 or not isinstance(shape[1], int):
            raise self._refuse(f"its input is {inputs[0].type} {shape}; the signature is a float32 latent [B, D] with a fixed D")
        self._set_batch(shape[0])
        self._latent_dim, self._input = shape[1], inputs[0].name
        return session

    def _probe(self) -> GeneratorShape:
        if not 1 <= self._latent_dim <= MAX_LATENT:
            raise self._refuse(f"its latent size is {self._latent_dim}; it must be 1 to {MAX_LATENT}")
        latents = torch.randn(2, self._latent_dim, generator=torch.Generator().manual_seed(PROBE_SEED))
        with torch.no_grad():
            images = self.generate(latents, check=True)
        return GeneratorShape(self._latent_dim, images.shape[2], images.shape[3])

    # -- running ----------------------------------------------------------------------------------------

    def generate(self, latents: torch.Tensor, check: bool = False) -> torch.Tensor:
        """Images of ``latents`` ([B, D]); with autograd through a TorchScript file. ``check``: refuse a bad output."""
        if self.differentiable:
            latents = latents.to(self.device, torch.float32)
            try:
                images = self._module(latents) if self._batch is None else torch.cat([self._module(one) for one in latents.split(1)])
            except Exception as error:  # noqa: BLE001 - whatever the user's graph raises, it did not take a [B, D] latent
                raise self._refuse(f"it fails on a float32 latent [{len(latents)}, {self._latent_dim}] ({_first_line(error)})") from None
        else:
            images = torch.from_numpy(self._run_onnx(latents.detach().cpu().numpy().astype(np.float32))).to(self.device)
        if check:
            self._check_output(images, len(latents))
        return images.clamp(-1, 1)

    def _run_onnx(self, latents: np.ndarray) -> np.ndarray:
        chunks = [latents] if self._batch is None else np.split(latents, len(latents))
        try:
            return np.concatenate([self._module.run(None, {self._input: chunk})[0] for chunk in chunks])
        except Exception as error:  # noqa: BLE001 - onnxruntime's own exception types
            raise self._refuse(f"onnxruntime fails on a float32 latent [{len(latents)}, {self._latent_dim}] ({_first_line(error)})") from None

    def _check_output(self, images, batch: int) -> None:
        if not isinstance(images, torch.Tensor):
            raise self._refuse(f"it returns {type(images).__name__}; the signature is one image tensor [B, 3, H, W]")
        shape = tuple(images.shape)
        if len(shape) != 4 or shape[0] != batch or shape[1] != 3:
            raise self._refuse(f"a [{batch}, {self._latent_dim}] latent gives an output of shape {list(shape)}; the signature is [B, 3, H, W]")
        if not (8 <= shape[2] <= MAX_SIDE and 8 <= shape[3] <= MAX_SIDE):
            raise self._refuse(f"its images are {shape[2]}x{shape[3]} px; each side must be 8 to {MAX_SIDE}")
        if images.dtype != torch.float32:
            raise self._refuse(f"its images are {images.dtype}; the signature is float32")
        if not torch.isfinite(images).all():
            raise self._refuse("its images hold NaN or infinite values")
        low, high = images.min().item(), images.max().item()
        if low < -1 - RANGE_SLACK or high > 1 + RANGE_SLACK:
            raise self._refuse(f"its pixel values span [{low:.3g}, {high:.3g}]; the signature is [-1, 1] (end the generator with tanh)")

    def _refuse(self, why: str) -> SettingsError:
        return SettingsError(f"external prior generator {self.path}: {why}")


def check_file(path: Path) -> None:
    """The cheap checks: a regular file within the size bound."""
    if not path.exists():
        raise SettingsError(f"external prior generator {path} does not exist")
    if not path.is_file():
        raise SettingsError(f"external prior generator {path} is not a file")
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SettingsError(f"external prior generator {path} is {size / 2**30:.1f} GiB; at most {MAX_FILE_BYTES / 2**30:.0f} GiB is read")


@functools.lru_cache(maxsize=4)
def _probed_shape(path: str, size: int, mtime_ns: int) -> GeneratorShape:
    return ExternalGenerator(Path(path)).shape


def probe_generator(path: Path) -> GeneratorShape:
    """Load and probe ``path`` once per file version (the settings check it at every plan)."""
    path = Path(path)
    check_file(path)
    stat = path.stat()
    return _probed_shape(str(path), stat.st_size, stat.st_mtime_ns)


def _first_line(error: Exception) -> str:
    text = str(error).strip()
    return (text.splitlines()[0] if text else type(error).__name__)[:300]
