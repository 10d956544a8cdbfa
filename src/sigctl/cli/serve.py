"""``sigctl serve``: run the real Triton server over a model repository until Ctrl-C or SIGTERM."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from sigctl.cli.common import command, console, error_console
from sigctl.serving.admission import ADMISSION_MODEL
from sigctl.serving.server import ON_DEMAND, ServerError, ServerSettings, TritonServer, is_remote


@command
def serve_command(
    repo: Annotated[str, typer.Option(help="Triton model repository: a folder, or s3://[http(s)://HOST:PORT/]BUCKET/PATH.")] = "model_repository",
    host: Annotated[str, typer.Option(help="Address to bind; loopback by default.")] = "127.0.0.1",
    grpc_port: Annotated[int, typer.Option(help="gRPC port.")] = 8001,
    http_port: Annotated[int, typer.Option(help="HTTP port.")] = 8000,
    metrics_port: Annotated[int, typer.Option(help="Prometheus metrics port.")] = 8002,
    max_loaded: Annotated[int | None, typer.Option(help="Keep at most N models loaded; the others load on their first request "
                                                        "and the least recently used are unloaded (default: load all).")] = None,
) -> None:
    """Serve every model in the repository; reload a model whose backend process dies."""
    repository = repo if is_remote(repo) else Path(repo)
    settings = ServerSettings(repository=repository, host=host, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port,
                              max_loaded=max_loaded)
    if isinstance(repository, Path) and repository.is_dir() and not any(p.is_dir() and not p.name.startswith(".") for p in repository.iterdir()):
        raise ServerError(f"no models in {repo}; add one with: sigctl export runs/NAME --repo {repo}")
    # SIGTERM acts as Ctrl-C at any point, also while Triton starts (a startup that hangs must still
    # stop, and clean up its temporary folder and shared memory, when asked to).
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        with TritonServer(settings) as server:
            _report_models(server, repo)
            server.start_watchdog()
            console.print("Ctrl-C or SIGTERM stops the server.")
            try:
                while True:
                    if server.process.poll() is not None:
                        raise ServerError(f"tritonserver exited unexpectedly (code {server.process.returncode}):\n{server.log_tail()}")
                    time.sleep(0.2)
            except KeyboardInterrupt:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the shutdown finish
                console.print("stopping tritonserver ...")
    except KeyboardInterrupt:
        pass
    console.print("stopped.")


ON_DEMAND_SHOWN = 10  # a repository of thousands: name a few


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _report_models(server: TritonServer, repo: str) -> None:
    """Print every model's state, and Triton's reason for each that failed; refuse if none can serve."""
    report = {name: status for name, status in server.model_report().items() if name != ADMISSION_MODEL}
    if not report:
        raise ServerError(f"no models in {repo}; add one with: sigctl export runs/NAME --repo {repo}")
    settings = server.settings
    on_demand = sorted(name for name, status in report.items() if status.state == ON_DEMAND)
    if any(status.ready for status in report.values()) or on_demand:
        console.print(f"tritonserver ready: gRPC {settings.grpc_url}, HTTP {settings.host}:{settings.http_port}, metrics {settings.host}:{settings.metrics_port}")
    for model, status in sorted(report.items()):
        if status.ready:
            console.print(f"  model {model}: READY")
        elif status.state != ON_DEMAND:
            error_console.print(f"  model {model}: {status.state}: {status.reason}", highlight=False, soft_wrap=True)
    if settings.max_loaded is not None:
        shown = ", ".join(on_demand[:ON_DEMAND_SHOWN]) + (", ..." if len(on_demand) > ON_DEMAND_SHOWN else "")
        console.print(f"  {len(on_demand)} more model(s) load on their first request{': ' + shown if on_demand else ''}; "
                      f"at most {settings.max_loaded} loaded at once (the least recently used are unloaded)", highlight=False, soft_wrap=True)
    if not any(status.ready for status in report.values()) and not on_demand:
        raise ServerError(f"no model in {repo} could be loaded (reasons above); fix or re-export it")
