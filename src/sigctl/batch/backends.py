"""Where items are generated: in process, or spread over Triton servers.

Spreading rule: each request goes to the healthy endpoint with the fewest requests in flight
(ties: the first listed), never above its in-flight limit. UNAVAILABLE, DEADLINE_EXCEEDED and
connection failures are retried with exponential backoff; an endpoint that fails 3 times in a row
is set aside (2 s, doubling up to 60 s) and probed before it gets work again. NOT_FOUND mid-job
counts as transient (a stopping server unloads its models first). INVALID_ARGUMENT is final: the
request itself is wrong.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tritonclient.grpc.aio as aioclient
from tritonclient.utils import InferenceServerException

from sigctl.client.client import ModelInfo, ServerRequestError
from sigctl.core.model import ModelSpec
from sigctl.core.stages import Request
from sigctl.core.requests import RequestLimits
from sigctl.errors import SigctlError
from sigctl.serving import contract

log = logging.getLogger(__name__)

# Worth another try, maybe elsewhere. NOT_FOUND is here because a stopping server unloads its
# models first ("has no available versions"); an unknown model was already refused before any work.
TRANSIENT = ("UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED", "INTERNAL", "CANCELLED", "UNKNOWN", "NOT_FOUND")
FAILURES_BEFORE_SET_ASIDE = 3


class ItemFailed(SigctlError):
    """An item could not be generated (its request was refused, or retries ran out)."""


@dataclass(frozen=True)
class ModelLimits:
    """What a model accepts, to check requests before sending them: its spec and limits."""

    spec: ModelSpec
    limits: RequestLimits


class LocalBackend:
    """Runs requests in this process, one at a time (PyTorch already uses every core)."""

    def __init__(self, run_dir: Path):
        from sigctl import artifact

        loaded = artifact.load(run_dir)
        self.executor = loaded.executor()
        self.version = loaded.manifest.created_at
        self.name = loaded.manifest.name_hint
        self._lock = asyncio.Lock()
        self.retries = 0
        self.parallelism = 1

    async def check_models(self, models: set) -> dict:
        return {model: (self.name, self.version) for model in models}

    async def limits(self, model: str, version: str) -> ModelLimits:
        return ModelLimits(self.executor.spec, RequestLimits())

    async def run(self, model, request: Request) -> tuple[np.ndarray, str]:
        from sigctl.core.operations import execute

        async with self._lock:
            return await asyncio.to_thread(execute, self.executor, request), "local"

    async def close(self) -> None:
        pass


@dataclass
class Endpoint:
    url: str
    limit: int
    in_flight: int = 0
    failures_in_a_row: int = 0
    set_aside_until: float = 0.0
    set_aside_for: float = 2.0
    done: int = 0
    _client: aioclient.InferenceServerClient | None = field(default=None, repr=False)

    @property
    def client(self) -> aioclient.InferenceServerClient:
        # Made on first use: a gRPC aio channel belongs to the event loop running when it is created.
        if self._client is None:
            self._client = aioclient.InferenceServerClient(self.url)
        return self._client


class ServerPool:
    """Least-outstanding-requests spreading over Triton endpoints, with retries and set-aside."""

    def __init__(self, urls: list[str], in_flight: int = 4, max_attempts: int = 8, timeout_s: float = 300.0):
        if not urls:
            raise SigctlError("give at least one --server HOST:PORT (or --local RUN)")
        self.endpoints = [Endpoint(url, in_flight) for url in urls]
        self.max_attempts = max_attempts
        self.timeout_s = timeout_s
        self.retries = 0
        self.parallelism = len(urls)
        self._changed = asyncio.Condition()

    async def check_models(self, models: set) -> dict:
        """Fail fast: every model must be ready somewhere; a task without a model needs exactly one."""
        ready: dict[str, str] = {}
        reachable = 0
        for endpoint in self.endpoints:
            try:
                index = await endpoint.client.get_model_repository_index(as_json=True)
                reachable += 1
            except InferenceServerException as error:
                log.warning("%s is not reachable (%s)", endpoint.url, error.message())
                continue
            for entry in index.get("models", []):
                if entry.get("state") == "READY":
                    ready.setdefault(entry["name"], entry.get("version", ""))
        if not reachable:
            raise SigctlError(f"no server answers at {', '.join(e.url for e in self.endpoints)}; is 'sigctl serve' running?")
        resolved = {}
        for model in models:
            if model is None:
                if len(ready) != 1:
                    raise SigctlError(f"a task names no model, but the servers serve {sorted(ready) or 'none'}; add 'model:' to the task")
                name = next(iter(ready))
            elif model not in ready:
                raise SigctlError(f"model {model!r} is not ready on any server (ready: {sorted(ready) or 'none'})")
            else:
                name = model
            resolved[model] = (name, ready[name])
        return resolved

    async def limits(self, model: str, version: str) -> ModelLimits:
        """From the served model's config parameters (the first endpoint that answers)."""
        last_error = "no endpoint"
        for endpoint in self.endpoints:
            try:
                config = (await endpoint.client.get_model_config(model, as_json=True))["config"]
                info = ModelInfo.from_config(config)
            except InferenceServerException as error:
                last_error = f"{endpoint.url}: {error.message()}"
                continue
            except (ServerRequestError, ValueError, TypeError) as error:  # not a sigctl model's parameters
                raise SigctlError(f"model {model!r} at {endpoint.url} does not describe itself as a sigctl model: {error}") from None
            # As published (JSON keeps ints and floats apart: max_aspect_ratio 7.5 must not become 7).
            return ModelLimits(info.spec, info.limits)
        raise SigctlError(f"cannot read the config of model {model!r} ({last_error})")

    async def run(self, model: str, request: Request) -> tuple[np.ndarray, str]:
        tensors = contract.build_inputs(request)
        last_error = ""
        for attempt in range(self.max_attempts):
            endpoint = await self._acquire()
            try:
                inputs = []
                for name, value in tensors.items():
                    tensor = aioclient.InferInput(name, list(value.shape), contract.wire_type(contract.INPUTS_BY_NAME[name]))
                    tensor.set_data_from_numpy(value)
                    inputs.append(tensor)
                result = await endpoint.client.infer(model, inputs, client_timeout=self.timeout_s)
                await self._release(endpoint, ok=True)
                return result.as_numpy(contract.IMAGES), endpoint.url
            except InferenceServerException as error:
                status = str(error.status() or "")
                if status.endswith("INVALID_ARGUMENT"):
                    await self._release(endpoint, ok=True)
                    raise ItemFailed(f"refused by {endpoint.url}: {error.message()}") from None
                last_error = f"{endpoint.url}: {status or 'error'} {error.message()}"
                if not any(status.endswith(kind) for kind in TRANSIENT) and status:
                    await self._release(endpoint, ok=False)
                    raise ItemFailed(last_error) from None
                await self._release(endpoint, ok=False)
                self.retries += 1
                await asyncio.sleep(min(5.0, 0.1 * 2**attempt))
        raise ItemFailed(f"gave up after {self.max_attempts} attempts; last error {last_error}")

    async def _acquire(self) -> Endpoint:
        async with self._changed:
            while True:
                now = time.monotonic()
                for endpoint in self.endpoints:
                    if endpoint.set_aside_until and now >= endpoint.set_aside_until and await self._probe(endpoint):
                        endpoint.set_aside_until = 0.0
                candidates = [e for e in self.endpoints if not e.set_aside_until and e.in_flight < e.limit]
                if candidates:
                    chosen = min(candidates, key=lambda e: e.in_flight)
                    chosen.in_flight += 1
                    return chosen
                waits = [e.set_aside_until - now for e in self.endpoints if e.set_aside_until]
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=max(0.05, min(waits)) if waits else None)
                except asyncio.TimeoutError:
                    pass

    async def _release(self, endpoint: Endpoint, ok: bool) -> None:
        async with self._changed:
            endpoint.in_flight -= 1
            if ok:
                endpoint.failures_in_a_row = 0
                endpoint.set_aside_for = 2.0
                endpoint.done += 1
            else:
                endpoint.failures_in_a_row += 1
                if endpoint.failures_in_a_row >= FAILURES_BEFORE_SET_ASIDE and not endpoint.set_aside_until:
                    endpoint.set_aside_until = time.monotonic() + endpoint.set_aside_for
                    log.warning("setting %s aside for %.0f s after %d failures", endpoint.url, endpoint.set_aside_for, endpoint.failures_in_a_row)
                    endpoint.set_aside_for = min(60.0, endpoint.set_aside_for * 2)
            self._changed.notify_all()

    async def _probe(self, endpoint: Endpoint) -> bool:
        try:
            return bool(await asyncio.wait_for(endpoint.client.is_server_ready(), timeout=2.0))
        except (InferenceServerException, asyncio.TimeoutError, OSError):
            endpoint.set_aside_until = time.monotonic() + endpoint.set_aside_for
            endpoint.set_aside_for = min(60.0, endpoint.set_aside_for * 2)
            return False

    async def close(self) -> None:
        for endpoint in self.endpoints:
            if endpoint._client is not None:
                await endpoint._client.close()
                endpoint._client = None
