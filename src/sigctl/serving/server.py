"""Run a real Triton Inference Server from the nvidia-pytriton wheel over a model repository.

The wheel ships ``tritonserver`` with the python backend; the stub for this Python is copied,
with the backend library, into a private backend folder. Models are loaded in explicit
model-control mode so a model whose stub process died can be unloaded and loaded again.
"""

from __future__ import annotations

import logging
import os
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

log = logging.getLogger(__name__)

STUB_NAME = "triton_python_backend_stub"


class ServerError(SigctlError):
    """The Triton server could not be started or stopped cleanly."""


@dataclass(frozen=True)
class ServerSettings:
    repository: Path
    host: str = "127.0.0.1"
    grpc_port: int = 8001
    http_port: int = 8000
    metrics_port: int = 8002
    startup_timeout_s: float = 120.0
    watchdog_interval_s: float = 1.0
    log_verbose: int = 0

    @property
    def grpc_url(self) -> str:
        return f"{self.host}:{self.grpc_port}"


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

    # -- lifecycle -------------------------------------------------------------------------------
    def __enter__(self) -> "TritonServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        repository = Path(self.settings.repository).resolve()
        if repository.exists() and not repository.is_dir():
            raise ServerError(f"model repository {repository} is a file; give the repository folder (--repo)")
        if not repository.is_dir():
            raise ServerError(f"model repository {repository} does not exist; export a model first (sigctl export RUN)")
        install = locate_triton()
        self.workdir = Path(tempfile.mkdtemp(prefix="sigctl-triton-"))
        backend_dir = self.workdir / "backends" / "python"
        backend_dir.mkdir(parents=True)
        for source in (install.backend_library, install.backend_utils, install.stub):
            shutil.copy2(source, backend_dir / source.name)
        s = self.settings
        command = [
            str(install.binary),
            f"--model-repository={repository}",
            f"--backend-directory={self.workdir / 'backends'}",
            "--model-control-mode=explicit",
            "--load-model=*",
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
            self._wait_until_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout_s: float = 30.0) -> None:
        """SIGTERM (Triton unloads models and ends its stubs), SIGKILL the group if it hangs, clean up."""
        self._stop_watchdog.set()
        if self._watchdog is not None:
            self._watchdog.join(timeout=5)
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
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

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    # -- readiness and health -----------------------------------------------------------------------
    def client(self):
        import tritonclient.grpc as grpcclient

        return grpcclient.InferenceServerClient(self.settings.grpc_url)

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.settings.startup_timeout_s
        client = self.client()
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(f"tritonserver exited with code {self.process.returncode}:\n{self.log_tail()}")
            try:
                if client.is_server_live() and client.is_server_ready():
                    return
            except Exception:  # noqa: BLE001 - not listening yet
                pass
            time.sleep(0.2)
        raise ServerError(f"tritonserver was not ready within {self.settings.startup_timeout_s:.0f} s:\n{self.log_tail()}")

    def model_states(self) -> dict[str, str]:
        """Model name -> state (READY, UNAVAILABLE, ...) from the repository index."""
        index = self.client().get_model_repository_index(as_json=True)
        return {model["name"]: model.get("state", "") for model in index.get("models", [])}

    def stub_processes(self) -> dict[str, int]:
        """Model name -> number of live python-backend stub processes under this server."""
        counts: dict[str, int] = {}
        for pid in _children(self.process.pid):
            try:
                arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if len(arguments) > 1 and arguments[0].endswith(STUB_NAME.encode()):
                model = Path(arguments[1].decode(errors="replace")).parent.parent.name
                counts[model] = counts.get(model, 0) + 1
        return counts

    def expected_instances(self, model: str) -> int:
        config = self.client().get_model_config(model, as_json=True)["config"]
        return sum(int(group.get("count", 1)) for group in config.get("instance_group", [])) or 1

    def heal(self) -> list[str]:
        """Reload every READY model that has lost a stub process; returns the models reloaded."""
        healed = []
        stubs = self.stub_processes()
        for model, state in self.model_states().items():
            if state == "READY" and stubs.get(model, 0) < self.expected_instances(model):
                log.warning("model %s lost its backend process; reloading it", model)
                client = self.client()
                client.unload_model(model)
                _wait_for(lambda name=model: self.model_states().get(name) != "READY", 30)
                client.load_model(model)
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
        for pid in _stub_pids_with_prefix(self.shm_prefix):
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


def _children(parent: int) -> list[int]:
    try:
        tasks = Path(f"/proc/{parent}/task").iterdir()
        children = []
        for task in tasks:
            text = (task / "children").read_text().split()
            children.extend(int(pid) for pid in text)
        return children
    except OSError:
        return []


def _stub_pids_with_prefix(prefix: str) -> list[int]:
    """Stubs whose shared-memory region names this server's prefix (orphans after a hard kill)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            arguments = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if STUB_NAME.encode() in arguments and prefix.encode() in arguments:
            found.append(int(entry.name))
    return found


def _wait_for(condition, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
