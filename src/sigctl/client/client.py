"""``SigClient`` / ``AsyncSigClient``: samples and pyramid metadata from a Triton server over gRPC.

    with SigClient("127.0.0.1:8001", "balloons") as client:
        images = client.sample(num_samples=4, seed=0, height=128, width=256)  # (4, 128, 256, 3) uint8
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from sigctl.core.requests import MODE_ANIMATE, MODE_EDIT, MODE_HARMONIZE, MODE_PAINT, MODE_RECONSTRUCT, MODE_SAMPLE, MODE_STYLE, MODE_SUPER_RESOLVE
from sigctl.core.stages import Request
from sigctl.core.model import ModelSpec
from sigctl.core.requests import UPSCALES, RequestLimits
from sigctl.errors import ArtifactError, SigctlError
from sigctl.serving.spec import ServedSpec
from sigctl.serving import contract
from sigctl.serving.admission import ADMISSION_MODEL, admission_inputs

# Loads on demand (``sigctl serve --max-loaded``) per request: another client's admission can unload
# the model between its load and this request's arrival; past this many the error is given up.
ADMISSION_TRIES = 5
ADMISSION_BACKOFF_S = 0.2  # doubled after each try
# Triton's words for a model that is not loaded (explicit model control) or whose process died.
_NOT_LOADED = ("unknown model", "is not found", "not at ready state", "no available versions", "is not healthy")


class ServerRequestError(SigctlError):
    """The server could not be reached or failed the request."""

    def __init__(self, message: str, status: str = ""):
        super().__init__(message)
        self.status = status


class RequestRejected(ServerRequestError):
    """The server refused the request as invalid or over its limits (INVALID_ARGUMENT, or gRPC's
    RESOURCE_EXHAUSTED for a message over its size limit): fix the request, do not retry."""


@dataclass(frozen=True)
class ModelInfo:
    """A served model, as its config publishes it (``sigctl.serving.spec.ServedSpec``)."""

    name: str
    served: ServedSpec

    @property
    def spec(self) -> ModelSpec:
        return self.served.model

    @property
    def recipe(self) -> str:
        return self.spec.recipe

    @property
    def num_stages(self) -> int:
        return self.spec.num_stages

    @property
    def stage_sizes(self) -> list[tuple[int, int]]:
        return list(self.spec.layout.sizes)

    @property
    def training_size(self) -> tuple[int, int]:
        return self.spec.layout.finest_size

    @property
    def modes(self) -> list[str]:
        return list(self.spec.modes)

    @property
    def limits(self) -> RequestLimits:
        return self.served.limits

    @property
    def super_resolution_factor(self) -> float | None:
        return self.spec.super_resolution_factor

    @property
    def upscales(self) -> list[int]:
        """The UPSCALE values this model answers: [1, 2, 4] with a learned upsampler, else [1]."""
        return list(UPSCALES) if self.spec.upsampler_graph() is not None else [1]

    @property
    def scores(self) -> dict | None:
        return self.served.scores

    @classmethod
    def from_config(cls, config: dict) -> "ModelInfo":
        parameters = {key: value.get("string_value", "") for key, value in config.get("parameters", {}).items()}
        try:
            return cls(name=config["name"], served=ServedSpec.from_config_parameters(parameters))
        except ArtifactError as error:
            raise ServerRequestError(f"model {config.get('name')}: {error}") from None


def _wrap(error: InferenceServerException, what: str, url: str, timeout_s: float | None = None) -> ServerRequestError:
    status = str(error.status() or "")
    if status.endswith("UNAVAILABLE"):
        return ServerRequestError(f"cannot reach a Triton server at {url} ({error.message()}); is 'sigctl serve' running there?", status)
    if status.endswith("DEADLINE_EXCEEDED"):
        # The server stops working on it too (it checks for cancellation between chunks and scales).
        return ServerRequestError(f"no answer from {url} within {timeout_s or 0:g} s; ask for less, or allow more time", status)
    message = f"{what}: {error.message()}"
    if status.endswith(("INVALID_ARGUMENT", "RESOURCE_EXHAUSTED")):
        return RequestRejected(message, status)
    return ServerRequestError(message, status)


def _infer_inputs(module, tensors: dict[str, np.ndarray]) -> list:
    inputs = []
    for name, value in tensors.items():
        tensor = module.InferInput(name, list(value.shape), contract.wire_type(contract.INPUTS_BY_NAME[name]))
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    return inputs


def _ready_models(index: dict) -> list[str]:
    """The ready models; on a server that loads on demand, every pyramid in its repository."""
    models = index.get("models", [])
    if any(m["name"] == ADMISSION_MODEL for m in models):
        return sorted({m["name"] for m in models} - {ADMISSION_MODEL})
    return sorted(m["name"] for m in models if m.get("state") == "READY")


def _not_loaded(error: InferenceServerException) -> bool:
    return any(words in (error.message() or "") for words in _NOT_LOADED)


def _admission_failed(error: InferenceServerException, model: str, url: str) -> ServerRequestError:
    if str(error.status() or "").endswith("NOT_FOUND"):
        return ServerRequestError(error.message() or f"model {model!r} is not in the repository at {url}", str(error.status()))
    return _wrap(error, f"the server at {url} could not load model {model!r} on demand", url)


def _gave_up(error: InferenceServerException, model: str, url: str) -> ServerRequestError:
    return ServerRequestError(f"model {model!r} at {url} was still not loaded after {ADMISSION_TRIES} loads on demand (other clients' "
                              f"requests may unload it each time: the server holds fewer models than are used at once; raise its --max-loaded): "
                              f"{error.message()}",
                              str(error.status() or ""))


def _pick_model(ready: list[str], url: str) -> str:
    if len(ready) == 1:
        return ready[0]
    if not ready:
        raise ServerRequestError(f"the server at {url} has no model ready; export one and (re)start sigctl serve")
    raise ServerRequestError(f"the server at {url} serves {len(ready)} models ({', '.join(ready)}); name one with --model")


class SigClient:
    """Synchronous client; a context manager that closes its channel."""

    def __init__(self, url: str = "127.0.0.1:8001", model: str | None = None, timeout_s: float = 300.0):
        self.url = url
        self.timeout_s = timeout_s
        self._client = grpcclient.InferenceServerClient(url)
        self._model = model
        self._loads_on_demand: bool | None = None

    def __enter__(self) -> "SigClient":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    @property
    def model(self) -> str:
        if self._model is None:
            self._model = _pick_model(self.models(), self.url)
        return self._model

    def models(self) -> list[str]:
        """Names of the models that are ready on the server."""
        try:
            index = self._client.get_model_repository_index(as_json=True)
        except InferenceServerException as error:
            raise _wrap(error, f"cannot list models at {self.url}", self.url) from None
        return _ready_models(index)

    def info(self) -> ModelInfo:
        """What the model is and accepts, from the spec its config publishes."""
        try:
            config = self._loaded(lambda: self._client.get_model_config(self.model, as_json=True))["config"]
        except InferenceServerException as error:
            raise _wrap(error, f"cannot read the config of model {self.model!r} at {self.url}", self.url) from None
        return ModelInfo.from_config(config)

    def infer(self, tensors: dict[str, np.ndarray]) -> np.ndarray:
        """Send raw contract tensors; returns the IMAGES output."""
        inputs = _infer_inputs(grpcclient, tensors)
        try:
            result = self._loaded(lambda: self._client.infer(self.model, inputs, client_timeout=self.timeout_s))
        except InferenceServerException as error:
            raise _wrap(error, f"model {self.model!r} at {self.url} refused the request", self.url, self.timeout_s) from None
        return result.as_numpy(contract.IMAGES)

    def _loaded(self, call):
        """``call()``; where it failed for a model not loaded and the server loads on demand, load it and retry."""
        for attempt in range(ADMISSION_TRIES):
            try:
                return call()
            except InferenceServerException as error:
                if not _not_loaded(error) or not self._server_loads_on_demand():
                    raise
                if attempt == ADMISSION_TRIES - 1:
                    raise _gave_up(error, self.model, self.url) from None
            time.sleep(ADMISSION_BACKOFF_S * (2 ** attempt) if attempt else 0)
            self._admit()

    def _admit(self) -> None:
        try:
            self._client.infer(ADMISSION_MODEL, admission_inputs(grpcclient, self.model), client_timeout=self.timeout_s)
        except InferenceServerException as error:
            raise _admission_failed(error, self.model, self.url) from None

    def _server_loads_on_demand(self) -> bool:
        if self._loads_on_demand is None:
            try:
                self._loads_on_demand = self._client.is_model_ready(ADMISSION_MODEL)
            except InferenceServerException:
                self._loads_on_demand = False
        return self._loads_on_demand

    def run(self, request: Request) -> np.ndarray:
        """Any request (``sigctl.core.operations.Request``): NxHxWx3 uint8 images, or frames."""
        return self.infer(contract.build_inputs(request))

    def sample(
        self, num_samples: int = 1, seed: int = 0, height: int | None = None, width: int | None = None, start_scale: int = 0, upscale: int = 1,
    ) -> np.ndarray:
        """NxHxWx3 uint8 random samples; sample i uses seed + i, as in process. ``upscale`` 2 or 4: the
        model's learned upsampler enlarges samples made at the size / upscale (``upsampler`` in ``info().spec``)."""
        return self.run(Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale, upscale=upscale))

    def reconstruct(self) -> np.ndarray:
        """The model's reconstruction of its training image (1xHxWx3), a quick health check."""
        return self.run(Request(MODE_RECONSTRUCT))

    def paint(self, image: np.ndarray, seed: int = 0, start_scale: int | None = None, quantize_colors: int = 0, **options) -> np.ndarray:
        """Paint-to-image: a clip-art ``image`` (HxWx3 uint8) turned into the training image's texture."""
        return self.run(Request(MODE_PAINT, seed, image=image, start_scale=start_scale, quantize_colors=quantize_colors, **options))

    def style(self, image: np.ndarray, **options) -> np.ndarray:
        """Style transfer (PetsGAN models): the content ``image`` (HxWx3 uint8) redrawn with the training image's patches."""
        return self.run(Request(MODE_STYLE, image=image, **options))

    def edit(self, image: np.ndarray, mask: np.ndarray, seed: int = 0, start_scale: int | None = None, **options) -> np.ndarray:
        """Editing: regenerate the masked region of an edited image so it looks natural."""
        return self.run(Request(MODE_EDIT, seed, image=image, mask=mask, start_scale=start_scale, **options))

    def harmonize(self, image: np.ndarray, mask: np.ndarray, seed: int = 0, start_scale: int | None = None, **options) -> np.ndarray:
        """Harmonization: blend a pasted object (the mask) into the training image's style."""
        return self.run(Request(MODE_HARMONIZE, seed, image=image, mask=mask, start_scale=start_scale, **options))

    def super_resolve(self, image: np.ndarray, factor: float | None = None, seed: int = 0) -> np.ndarray:
        """Super-resolution by ``factor`` (default: the trained one) on a model trained with --factor."""
        return self.run(Request(MODE_SUPER_RESOLVE, seed, image=image, sr_factor=factor))

    def animate(self, frames: int = 30, seed: int = 0, start_scale: int | None = None, **options) -> np.ndarray:
        """frames x H x W x 3 uint8: a smooth random walk around the reconstruction."""
        return self.run(Request(MODE_ANIMATE, seed, frames=frames, start_scale=start_scale, **options))


class AsyncSigClient:
    """asyncio client for batch jobs: ``run(request)``, ``sample``, ``info``, ``models`` (awaitable)."""

    def __init__(self, url: str = "127.0.0.1:8001", model: str | None = None, timeout_s: float = 300.0):
        self.url = url
        self.timeout_s = timeout_s
        self._client = aioclient.InferenceServerClient(url)
        self._model = model
        self._loads_on_demand: bool | None = None

    async def __aenter__(self) -> "AsyncSigClient":
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    async def close(self) -> None:
        await self._client.close()

    async def model(self) -> str:
        if self._model is None:
            self._model = _pick_model(await self.models(), self.url)
        return self._model

    async def models(self) -> list[str]:
        try:
            index = await self._client.get_model_repository_index(as_json=True)
        except InferenceServerException as error:
            raise _wrap(error, f"cannot list models at {self.url}", self.url) from None
        return _ready_models(index)

    async def info(self) -> ModelInfo:
        model = await self.model()
        try:
            config = (await self._loaded(model, lambda: self._client.get_model_config(model, as_json=True)))["config"]
        except InferenceServerException as error:
            raise _wrap(error, f"cannot read the config of model {model!r} at {self.url}", self.url) from None
        return ModelInfo.from_config(config)

    async def infer(self, tensors: dict[str, np.ndarray]) -> np.ndarray:
        model = await self.model()
        inputs = _infer_inputs(aioclient, tensors)
        try:
            result = await self._loaded(model, lambda: self._client.infer(model, inputs, client_timeout=self.timeout_s))
        except InferenceServerException as error:
            raise _wrap(error, f"model {model!r} at {self.url} refused the request", self.url, self.timeout_s) from None
        return result.as_numpy(contract.IMAGES)

    async def _loaded(self, model: str, call):
        """As ``SigClient._loaded``: load on demand and retry where the server does that."""
        for attempt in range(ADMISSION_TRIES):
            try:
                return await call()
            except InferenceServerException as error:
                if not _not_loaded(error) or not await self._server_loads_on_demand():
                    raise
                if attempt == ADMISSION_TRIES - 1:
                    raise _gave_up(error, model, self.url) from None
            await asyncio.sleep(ADMISSION_BACKOFF_S * (2 ** attempt) if attempt else 0)
            try:
                await self._client.infer(ADMISSION_MODEL, admission_inputs(aioclient, model), client_timeout=self.timeout_s)
            except InferenceServerException as error:
                raise _admission_failed(error, model, self.url) from None

    async def _server_loads_on_demand(self) -> bool:
        if self._loads_on_demand is None:
            try:
                self._loads_on_demand = await self._client.is_model_ready(ADMISSION_MODEL)
            except InferenceServerException:
                self._loads_on_demand = False
        return self._loads_on_demand

    async def run(self, request: Request) -> np.ndarray:
        return await self.infer(contract.build_inputs(request))

    async def sample(
        self, num_samples: int = 1, seed: int = 0, height: int | None = None, width: int | None = None, start_scale: int = 0, upscale: int = 1,
    ) -> np.ndarray:
        return await self.run(Request(MODE_SAMPLE, seed, num_samples, height, width, start_scale, upscale=upscale))
