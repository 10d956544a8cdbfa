"""Run a real Triton Inference Server from the nvidia-pytriton wheel over a model repository.

The wheel ships ``tritonserver`` with the python backend; the stub for this Python is copied,
with the backend library, into a private backend folder. Models are loaded in explicit
model-control mode so a model whose stub process died can be unloaded and loaded again, and so
that under ``max_loaded`` only some are loaded (the others on demand, see ``admission``).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from sigctl.errors import SigctlError
from sigctl.serving.admission import ADMISSION_MODEL, admission_inputs, write_admission_repository
from sigctl.serving.processes import STUB_NAME, stub_counts, stub_pids_with_prefix

log = logging.getLogger(__name__)

ON_DEMAND = "ON_DEMAND"  # model_report's state of a model never loaded under --max-loaded
UNLOAD_GRACE_S = 5.0  # a dead-stub model version unloads in ~1 s, or never


class ServerError(SigctlError):
    """The Triton server could not be started or stopped cleanly."""


@dataclass(frozen=True)
class ServerSettings:
    repository: Path | str  # a folder, or s3://[http(s)://HOST:PORT/]BUCKET/PATH (Triton reads it itself)
    host: str = "127.0.0.1"
    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    startup_timeout_s: float = 120.0
    watchdog_interval_s: float = 1.0
    log_verbose: int = 0
    # At most this many pyramids loaded; the others load on demand through the admission model (None: all loaded).
    max_loaded: int | None = None

    def __post_init__(self) -> None:
        if self.max_loaded is not None and self.max_loaded < 1:
            raise ServerError(f"--max-loaded must be at least 1 (got {self.max_loaded}): it is how many pyramids stay loaded at once")

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"


def is_remote(repository: Path | str) -> bool:
    """An S3 repository URL (a Path would collapse its '//', so it stays text)."""
    return isinstance(repository, str) and repository.startswith("s3://")


@dataclass(frozen=True)
class TritonInstall:
    binary: Path
    libraries: Path
    backend_library: Path
    backend_utils: Path
    stub: Path


def locate_triton() -> TritonInstall:
    """Find tritonserver, its libraries, the python backend and this Python's stub in the wheel."""
    try:
        import pytriton
    except ImportError:
        raise ServerError("nvidia-pytriton is not installed; run 'make install' (or pip install nvidia-pytriton)") from None
    root = Path(pytriton.__file__).parent / "tritonserver"
    site = Path(pytriton.__file__).parent.parent
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    install = TritonInstall(
        binary=root / "bin" / "tritonserver",
        libraries=site / "nvidia_pytriton.libs",
        backend_library=root / "backends" / "python" / "libtriton_python.so",
        backend_utils=root / "backends" / "python" / "triton_python_backend_utils.py",
        stub=root / "python_backend_stubs" / version / STUB_NAME,
    )
    missing = [str(p) for p in (install.binary, install.libraries, install.backend_library, install.stub) if not p.exists()]
    if missing:
        raise ServerError(f"the nvidia-pytriton install is incomplete or has no stub for Python {version}: {missing}")
    return install


@dataclass(frozen=True)
class ModelStatus:
    """A model in the repository as Triton sees it: READY, UNAVAILABLE, ... and why, when it failed."""

    state: str
    reason: str = ""

    @property
    def ready(self) -> bool:
        return self.state == "READY"


class TritonServer:
    """A running tritonserver process; use as a context manager or call start()/stop()."""

    def __init__(self, settings: ServerSettings):
        self.settings = settings
        self.process: subprocess.Popen | None = None
        self.workdir: Path | None = None
        # Random part: regions and stubs with this prefix are provably this server's, so stop() may remove them.
        self.shm_prefix = f"sigctl_{os.getpid()}_{settings.grpc_port}_{secrets.token_hex(4)}_"
        self._watchdog: threading.Thread | None = None
        self._stop_watchdog = threading.Event()
        self.reloads: list[str] = []
        # Model versions whose unload never finishes (see heal); shutdown does not wait for them.
        self.stuck_unloads = 0
        # Models not handed to Triton because it would hang on them, and why (see _models_to_load).
        self.not_loaded: dict[str, str] = {}

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "TritonServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        if is_remote(self.settings.repository):
            # Triton lists and downloads it (credentials from AWS_* variables); nothing to check here.
            # Under --max-loaded nothing is listed here: every pyramid loads on demand.
            repository, to_load = str(self.settings.repository), ["--load-model=*"] if self.settings.max_loaded is None else []
        else:
            repository = Path(self.settings.repository).resolve()
            if repository.exists() and not repository.is_dir():
                raise ServerError(f"model repository {repository} is a file; give the repository folder (--repo)")
            if not repository.is_dir():
                raise ServerError(f"model repository {repository} does not exist; export a model first (sigctl export RUN)")
            to_load = self._models_to_load(repository)
        install = locate_triton()
        self.workdir = Path(tempfile.mkdtemp(prefix="sigctl-triton-"))
        repositories = [f"--model-repository={repository}"]
        if self.settings.max_loaded is not None:
            repositories.append(f"--model-repository={self._admission_repository()}")
            to_load = [*to_load[:self.settings.max_loaded], f"--load-model={ADMISSION_MODEL}"]
        backend_dir = self.workdir / "backends" / "python"
        backend_dir.mkdir(parents=True)
        for source in (install.backend_library, install.backend_utils, install.stub):
            shutil.copy2(source, backend_dir / source.name)
        s = self.settings
        command = [
            str(install.binary),
            *repositories,
            f"--backend-directory={self.workdir / 'backends'}",
            "--model-control-mode=explicit",
            *to_load,
            f"--grpc-address={s.host}", f"--grpc-port={s.grpc_port}",
            f"--http-address={s.host}", f"--http-port={s.http_port}",
            f"--metrics-address={s.host}", f"--metrics-port={s.metrics_port}",
            f"--backend-config=python,shm-region-prefix-name={self.shm_prefix}",
            "--exit-on-error=false",
            "--strict-readiness=true",
            f"--log-verbose={s.log_verbose}",
        ]
        environment = dict(os.environ)
        environment["LD_LIBRARY_PATH"] = os.pathsep.join(filter(None, [str(install.libraries), environment.get("LD_LIBRARY_PATH")]))
        # The stub runs "python" modules with the interpreter it finds first: make it this venv's.
        environment["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), environment.get("PATH", "")])
        self.log_path = self.workdir / "tritonserver.log"
        self._log_file = open(self.log_path, "wb")
        try:
            self.process = subprocess.Popen(
                command, stdout=self._log_file, stderr=subprocess.STDOUT, env=environment, start_new_session=True, preexec_fn=_terminate_with_parent
            )
            self._wait_until_live()
        except BaseException:
            self.stop()
            raise

    def _models_to_load(self, repository: Path) -> list[str]:
        """--load-model arguments: every model, except those Triton 2.51 would hang on at startup.

        A python-backend version without model.py makes the stub exit during its pre-initialisation
        and Triton wait for it for good (no endpoint ever opens); such models are left out and
        reported instead. Other failures (a bad config, a graph or model.py that does not load)
        Triton reports itself.
        """
        for model in sorted(p for p in repository.iterdir() if p.is_dir() and not p.name.startswith(".")):
            config = model / "config.pbtxt"
            python_backend = config.is_file() and re.search(r'backend\s*:\s*"python"', config.read_text(errors="replace"))
            missing = sorted(v.name for v in model.iterdir() if v.is_dir() and v.name.isdigit() and not (v / "model.py").is_file())
            if python_backend and missing:
                self.not_loaded[model.name] = (
                    f"version {', '.join(missing)} has no model.py (Triton's python backend would wait for it forever); export the model again"
                )
        models = [p.name for p in sorted(repository.iterdir()) if p.is_dir() and not p.name.startswith(".")]
        if self.settings.max_loaded is not None:
            if ADMISSION_MODEL in models:
                raise ServerError(f"{repository / ADMISSION_MODEL}: the name {ADMISSION_MODEL} is sigctl's own under --max-loaded; rename that model")
        elif not self.not_loaded:
            return ["--load-model=*"]
        return [f"--load-model={name}" for name in models if name not in self.not_loaded]

    def _admission_repository(self) -> Path:
        """The admission model in a second repository inside this server's temporary folder."""
        host = "127.0.0.1" if self.settings.host in ("0.0.0.0", "") else self.settings.host
        return write_admission_repository(self.workdir / "admission", self.settings.max_loaded, f"{host}:{self.settings.http_port}", self.not_loaded)

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (Triton unloads models and ends its stubs), SIGKILL the group if it hangs, clean up.

        A model version whose unload is stuck (see ``heal``) would hold Triton's shutdown for its
        whole exit timeout (30 s); once Triton reports that only such versions are left, the
        server is killed instead of waited for: there is nothing left to finish.
        """
        self._stop_watchdog.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        if self.process is not None and self.process.poll() is None:
            log_offset = self._log_size()
            self.process.send_signal(signal.SIGTERM)
            deadline = time.monotonic() + timeout_s
            while self.process.poll() is None and time.monotonic() < deadline:
                if self.stuck_unloads and self._only_stuck_models_left(log_offset):
                    log.info("only %d stuck model version(s) left; ending tritonserver", self.stuck_unloads)
                    break
                time.sleep(0.1)
            if self.process.poll() is None:
                if time.monotonic() >= deadline:
                    log.warning("tritonserver did not stop within %.0f s; killing it", timeout_s)
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        if self.process is not None:
            self._kill_leftover_stubs()
        for region in Path("/dev/shm").glob(f"{self.shm_prefix}*"):
            region.unlink(missing_ok=True)
        if getattr(self, "_log_file", None) is not None:
            self._log_file.close()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except (OSError, AttributeError):
            return 0

    def _only_stuck_models_left(self, offset: int) -> bool:
        """After SIGTERM Triton logs "Found N live models ..." each second while it unloads."""
        try:
            with open(self.log_path, "rb") as log_file:
                log_file.seek(offset)
                text = log_file.read().decode(errors="replace")
        except OSError:
            return False
        counts = re.findall(r"Found (\d+) live models", text)
        return bool(counts) and int(counts[-1]) <= self.stuck_unloads

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- readiness and health -----------------------------------------------------------------------
    def client(self):
        return grpcclient_module().InferenceServerClient(self.settings.grpc_url)

    def _wait_until_live(self) -> None:
        """Triton opens its endpoints only after the startup loads, so once it is live every model
        has its final state. (Not "ready": with --strict-readiness one failed model keeps the
        server unready, and waiting for that showed nothing for the whole startup timeout.)"""
        deadline = time.monotonic() + self.settings.startup_timeout_s
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"tritonserver exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                if client.is_server_live():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.2)
        raise ServerError(f"tritonserver was not live within {self.settings.startup_timeout_s:.0f} s:\n{self.log_tail()}")

    def model_states(self) -> dict[str, str]:
        """Model name -> state (READY, UNAVAILABLE, ...) from the repository index."""
        return {name: status.state for name, status in self.model_report().items()}

    def model_report(self) -> dict[str, ModelStatus]:
        """Model name -> state and, for a model that failed to load, Triton's reason.

        The repository index gives both for a model whose load failed; a model whose config.pbtxt
        Triton could not read has no state there at all, and its reason is only in the server log.
        """
        index = self.client().get_model_repository_index(as_json=True)
        report = {}
        for model in index.get("models", []):
            name, state, reason = model["name"], model.get("state", ""), model.get("reason", "")
            if not state and self.settings.max_loaded is not None:
                state, reason = ON_DEMAND, "not loaded yet; loads on its first request"
            elif not state:
                state, reason = "UNAVAILABLE", self._logged_reason(name) or "Triton did not load it (no state); see its log"
            report[name] = ModelStatus(state, _first_lines(reason))
        report.update({name: ModelStatus("UNAVAILABLE", reason) for name, reason in self.not_loaded.items()})
        return report

    def _logged_reason(self, model: str) -> str:
        pattern = re.compile(rf"Poll failed for model directory '{re.escape(model)}': (.*?)\"?$")
        found = [match.group(1) for line in self.log_tail(lines=2000).splitlines() if (match := pattern.search(line))]
        return found[-1] if found else ""

    def stub_processes(self) -> dict[str, int]:
        """Model name -> number of live python-backend stub processes under this server."""
        return stub_counts(self.process.pid)

    def expected_instances(self, model: str) -> int:
        config = self.client().get_model_config(model, as_json=True)["config"]
        return sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1

    def _instances_or_zero(self, model: str) -> int:
        """Its instance count; 0 for a model unloaded since (on demand): nothing to heal there."""
        try:
            return self.expected_instances(model)
        except Exception:  # noqa: BLE001 - tritonclient raises InferenceServerException for a model not loaded
            return 0

    def heal(self) -> list[str]:
        """Reload every READY model that has lost a stub process; returns the models reloaded.

        If a request reached the model while its stub was dead ("Stub process ... is not
        healthy"), Triton 2.51 never finishes unloading that version: it stays UNLOADING for good
        and holds the server's shutdown for its whole exit timeout. The reload still works; the
        stuck version is counted so that ``stop`` does not wait for it.

        Under ``max_loaded`` models come and go on demand: one is healed only if it was READY both
        before and after its processes were counted (one being loaded or unloaded meanwhile is not
        dead), and it is loaded again through the admission model, which keeps the limit.
        """
        healed = []
        before = self.model_states()
        stubs = self.stub_processes()
        # READY both before and after the count: a model loaded or unloaded on demand meanwhile is not dead.
        for model, state in self.model_states().items():
            if state == "READY" and before.get(model) == "READY" and stubs.get(model, 0) < self._instances_or_zero(model):
                log.warning("model %s lost its backend process; reloading it", model)
                client = self.client()
                client.unload_model(model)
                _wait_for(lambda name=model: self.model_states().get(name) != "READY", 30)
                if not _wait_for(lambda name=model: self.model_states().get(name) == "UNAVAILABLE", UNLOAD_GRACE_S):
                    self.stuck_unloads += 1
                    log.warning("the old version of %s does not finish unloading (a request reached its dead process)", model)
                if self.settings.max_loaded is None or model == ADMISSION_MODEL:
                    client.load_model(model)
                else:
                    # Through the admission model: a load of its own here could race one there to N+1 loaded.
                    client.infer(ADMISSION_MODEL, admission_inputs(grpcclient_module(), model))
                healed.append(model)
        self.reloads.extend(healed)
        return healed

    def start_watchdog(self) -> None:
        """Check stub health every watchdog_interval_s in a background thread."""

        def watch() -> None:
            while not self._stop_watchdog.wait(self.settings.watchdog_interval_s):
                try:
                    self.heal()
                except Exception as error:  # noqa: BLE001 - keep watching; report why
                    log.warning("health check failed: %s", error)

        self._watchdog = threading.Thread(target=watch, name="sigctl-triton-watchdog", daemon=True)
        self._watchdog.start()

    def _kill_leftover_stubs(self) -> None:
        for pid in stub_pids_with_prefix(self.shm_prefix):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _terminate_with_parent() -> None:
    """In the child before exec: have Linux send SIGTERM if the launching process dies (no orphan servers)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def grpcclient_module():
    import tritonclient.grpc as grpcclient  # imported late: starting a server needs none of it

    return grpcclient


def _wait_for(condition, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False


def _first_lines(reason: str, lines: int = 3) -> str:
    """Triton's reasons can end in a Python traceback ("... \\n\\nAt:\\n  file(line): function"): the
    message before it says what failed."""
    message = reason.split("\nAt:\n")[0].strip()
    return "\n".join(line for line in message.splitlines()[:lines] if line.strip())
