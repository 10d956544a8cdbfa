"""Admission for ``sigctl serve --max-loaded N``: at most N pyramids loaded, others on demand.

One small python-backend model, ``sigctl_admission``, lives in a second model repository the
serve process writes (``write_admission_repository``). It has ONE instance, so Triton runs its
requests one at a time: every load on demand goes through it, and that serialises admissions
(a client loading through Triton's repository API itself, with the serve process trimming
afterwards, was seen to reach N+1 loaded models). Each request names a model; ``Admission.admit``
returns at once if it is ready, else unloads the least recently used pyramids (by Triton's
``last_inference`` statistic, or when admission loaded them, whichever is later) until fewer than
N are loaded, waits until Triton has really unloaded them, then loads the one asked for.

Standard library only: it runs inside the model's stub process and talks to Triton's HTTP
endpoint on the same machine.
"""

from __future__ import annotations

import json
import logging
import os
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from sigctl.errors import SigctlError
from sigctl.serving.processes import stub_counts

log = logging.getLogger(__name__)

ADMISSION_MODEL = "sigctl_admission"
MODEL_INPUT = "MODEL"  # BYTES [1]: the name of the model to load
STATE_OUTPUT = "STATE"  # BYTES [1]: its state afterwards (READY)
UNLOAD_WAIT_S = 30.0  # a pyramid's stub ends in ~1 s

_CONFIG = """name: "{name}"
backend: "python"
max_batch_size: 0
input [ {{ name: "{model_input}" data_type: TYPE_STRING dims: [ 1 ] }} ]
output [ {{ name: "{state_output}" data_type: TYPE_STRING dims: [ 1 ] }} ]
# One instance: Triton runs its requests one after another, which serialises every admission.
instance_group [ {{ count: 1 kind: KIND_CPU }} ]
parameters {{ key: "max_loaded" value: {{ string_value: "{max_loaded}" }} }}
parameters {{ key: "http_url" value: {{ string_value: "{http_url}" }} }}
parameters {{ key: "refused" value: {{ string_value: {refused} }} }}
"""


class AdmissionError(SigctlError):
    """A model cannot be admitted: not in the repository, or Triton failed to load it."""

    def __init__(self, message: str, not_found: bool = False):
        super().__init__(message)
        self.not_found = not_found


def write_admission_repository(folder: Path, max_loaded: int, http_url: str, refused: dict[str, str]) -> Path:
    """Write the admission model into ``folder`` (a second model repository); returns the folder.

    ``refused`` maps models Triton must never be asked to load (it would hang on them) to why.
    """
    version = folder / ADMISSION_MODEL / "1"
    version.mkdir(parents=True)
    (version / "model.py").write_text((Path(__file__).parent / "admission_model.py").read_text())
    config = _CONFIG.format(name=ADMISSION_MODEL, model_input=MODEL_INPUT, state_output=STATE_OUTPUT, max_loaded=max_loaded,
                            http_url=http_url, refused=json.dumps(json.dumps(refused), ensure_ascii=False))
    (folder / ADMISSION_MODEL / "config.pbtxt").write_text(config)
    return folder


def admission_inputs(module, model: str) -> list:
    """The admission request for ``model``, built with a tritonclient module (``tritonclient.grpc`` or its ``aio``)."""
    import numpy as np

    tensor = module.InferInput(MODEL_INPUT, [1], "BYTES")
    tensor.set_data_from_numpy(np.array([model.encode()], np.object_))
    return [tensor]


def least_recently_used(loaded: list[str], last_used: dict[str, float], count: int) -> list[str]:
    """The ``count`` models of ``loaded`` used longest ago (never used first, then by name)."""
    return sorted(loaded, key=lambda name: (last_used.get(name, 0.0), name))[:max(count, 0)]


class TritonRepository:
    """Triton's HTTP repository and statistics endpoints on ``host:port`` (JSON over urllib)."""

    def __init__(self, http_url: str, timeout_s: float = 120.0):
        self.base = f"http://{http_url}"
        self.timeout_s = timeout_s

    def _call(self, method: str, path: str) -> dict:
        request = urllib.request.Request(self.base + path, method=method, data=b"{}" if method == "POST" else None)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as answer:
                body = answer.read()
        except urllib.error.HTTPError as error:
            detail = error.read().decode(errors="replace")
            try:
                detail = json.loads(detail).get("error", detail)
            except ValueError:
                pass
            raise AdmissionError(detail) from None
        return json.loads(body) if body else {}

    def index(self) -> list[dict]:
        """Every model version in the repositories: name, version, state (absent before a first load)."""
        return self._call("POST", "/v2/repository/index")

    def last_inference(self) -> dict[str, float]:
        """Model name -> time of its last inference (s since the epoch; 0 for none) for loaded models."""
        stats = self._call("GET", "/v2/models/stats").get("model_stats", [])
        latest: dict[str, float] = {}
        for entry in stats:
            latest[entry["name"]] = max(latest.get(entry["name"], 0.0), int(entry.get("last_inference", 0)) / 1000.0)
        return latest

    def ready(self, model: str) -> bool:
        try:
            self._call("GET", f"/v2/models/{urllib.parse.quote(model, safe='')}/ready")
        except AdmissionError:
            return False
        return True

    def load(self, model: str) -> None:
        """Returns once Triton has loaded it (or failed to)."""
        self._call("POST", f"/v2/repository/models/{urllib.parse.quote(model, safe='')}/load")

    def unload(self, model: str) -> None:
        """Returns once Triton has started unloading it; ``Admission`` waits for the end."""
        self._call("POST", f"/v2/repository/models/{urllib.parse.quote(model, safe='')}/unload")


@dataclass
class Admission:
    """The admission policy over a ``TritonRepository`` (state lives in the admission model's instance)."""

    repository: TritonRepository
    max_loaded: int
    refused: dict[str, str] = field(default_factory=dict)
    admitted_at: dict[str, float] = field(default_factory=dict)
    poll_s: float = 0.05

    def states(self) -> dict[str, str]:
        """Model name -> state in the repository index ("" for one never loaded)."""
        return {entry["name"]: entry.get("state", "") for entry in self.repository.index()}

    def admit(self, model: str) -> str:
        """Make ``model`` ready with at most ``max_loaded`` pyramids loaded; returns its state.

        What holds a process is read from the stubs under this server, not only from the
        repository index: after a version stuck UNLOADING (see ``_wait_unloaded``) the index can
        report that model UNLOADING while its new version serves.
        """
        states, processes = self.states(), self._processes()
        if model not in states or model == ADMISSION_MODEL:
            raise AdmissionError(f"model {model!r} is not in this server's repository; export it there first", not_found=True)
        if model in self.refused:
            raise AdmissionError(f"model {model!r} cannot be loaded: {self.refused[model]}")
        if model in processes and self.repository.ready(model):
            return "READY"
        if states[model] == "READY":
            # Its stub died (before the watchdog saw it): unload the dead version, then load it again.
            log.warning("model %s lost its backend process; reloading it", model)
            self._unload(model)
        holding = ({name for name, state in states.items() if state in ("READY", "LOADING")} | set(processes)) - {model, ADMISSION_MODEL}
        last_used = self.repository.last_inference()
        # Just admitted but not yet asked: as recent as its admission, so two clients do not evict each other's model.
        recent = {name: max(last_used.get(name, 0.0), self.admitted_at.get(name, 0.0)) for name in holding}
        victims = least_recently_used(sorted(holding), recent, len(holding) - self.max_loaded + 1)
        for victim in victims:
            log.info("unloading %s (least recently used) to load %s", victim, model)
            self._unload(victim)
        self._wait_unloaded({*victims, model})
        self.repository.load(model)
        self.admitted_at[model] = time.time()
        if not self.repository.ready(model):
            raise AdmissionError(f"model {model!r} did not load (state {self.states().get(model) or 'unknown'}); see the server log")
        return "READY"

    def _unload(self, model: str) -> None:
        try:
            self.repository.unload(model)
        except AdmissionError as error:  # the watchdog may be unloading it too; _wait_unloaded decides
            log.warning("unload of %s: %s", model, error)

    def _wait_unloaded(self, models: set[str]) -> None:
        """Triton's unload returns before the model's process ends: wait until it has.

        A version that got a request while its stub was dead stays UNLOADING for good (Triton
        2.51), without a process: an UNLOADING version whose process is gone no longer counts.
        """
        deadline = time.monotonic() + UNLOAD_WAIT_S
        while True:
            states, processes = self.states(), self._processes()
            models = {name for name in models if name in processes or states.get(name) in ("READY", "LOADING")}
            if not models:
                return
            if time.monotonic() > deadline:
                raise AdmissionError(f"model(s) {sorted(models)} did not unload within {UNLOAD_WAIT_S:.0f} s; try again")
            time.sleep(self.poll_s)

    @staticmethod
    def _processes() -> dict[str, int]:
        """Model name -> live stubs under this server (the admission stub's parent is tritonserver)."""
        return stub_counts(os.getppid())
