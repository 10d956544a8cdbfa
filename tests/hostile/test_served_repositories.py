"""Broken model repositories through `sigctl serve` as a user runs it: each model that fails to load
is reported with Triton's reason, and serve exits non-zero, promptly, when nothing loaded."""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ..conftest import free_ports

SRC = Path(__file__).resolve().parents[2] / "src"


def junk_config(model: Path) -> None:
    (model / "config.pbtxt").write_text('name: "balloons" backend: "python" this is { not a config\n')


def truncated_graph(model: Path) -> None:
    graph = model / "1" / "graphs" / "stage_00.onnx"
    graph.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])


def missing_model_py(model: Path) -> None:
    (model / "1" / "model.py").unlink()


def missing_arrays(model: Path) -> None:
    (model / "1" / "arrays.npz").unlink()


def missing_spec(model: Path) -> None:
    (model / "1" / "model_spec.json").unlink()


BROKEN = [
    (junk_config, r"failed to read text proto from .*config.pbtxt"),
    (truncated_graph, r"stage_00.onnx failed:Protobuf parsing failed"),
    (missing_model_py, r"version 1 has no model.py"),
    (missing_arrays, r"not a complete sigctl model version"),
    (missing_spec, r"model_spec.json is missing or unreadable"),
]


def repository_with(exported, tmp_path: Path, damage=None, name: str = "balloons") -> Path:
    repository = tmp_path / "repo"
    shutil.copytree(exported.folder.parent, repository / name, ignore=shutil.ignore_patterns("*.pt"))
    if damage:
        damage(repository / name)
    return repository


def serve(repository: Path, timeout_s: float = 90) -> tuple[subprocess.Popen, list[int]]:
    ports = free_ports(3)
    process = subprocess.Popen(
        [sys.executable, "-m", "sigctl", "serve", "--repo", str(repository), "--grpc-port", str(ports[0]),
         "--http-port", str(ports[1]), "--metrics-port", str(ports[2])],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "400"},
    )
    return process, ports


@pytest.mark.slow
@pytest.mark.parametrize("damage, reason", BROKEN, ids=[damage.__name__ for damage, _ in BROKEN])
def test_a_repository_whose_only_model_fails_is_reported_and_serve_exits_2(exported, tmp_path, damage, reason):
    import re

    process, _ = serve(repository_with(exported, tmp_path, damage))
    started = time.monotonic()
    try:
        output, _ = process.communicate(timeout=90)
    finally:
        if process.poll() is None:  # a hang: SIGTERM is what a user's Ctrl-C would do
            process.send_signal(signal.SIGTERM)
            process.communicate(timeout=60)
    assert time.monotonic() - started < 30  # the truncated graph gave no output for 60 s
    assert process.returncode == 2, output
    assert "Traceback" not in output and "tritonserver ready" not in output
    assert re.search(r"model balloons: UNAVAILABLE: .*" + reason, output), output
    assert "no model in" in output and "could be loaded" in output


def test_an_empty_repository_is_refused_before_starting_triton(tmp_path):
    from typer.testing import CliRunner

    from sigctl.cli import app

    (tmp_path / "repo").mkdir()
    result = CliRunner().invoke(app, ["serve", "--repo", str(tmp_path / "repo")])
    assert result.exit_code == 2 and "no models in" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_a_broken_model_beside_a_good_one_is_reported_and_the_good_one_served(exported, tmp_path):
    repository = repository_with(exported, tmp_path)
    shutil.copytree(repository / "balloons", repository / "broken")
    (repository / "broken" / "config.pbtxt").write_text((repository / "broken" / "config.pbtxt").read_text().replace('"balloons"', '"broken"'))
    truncated_graph(repository / "broken")
    process, ports = serve(repository)
    try:
        seen = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not any("Ctrl-C or SIGTERM" in line for line in seen):
            seen.append(process.stdout.readline())
        output = "".join(seen)
        assert "model balloons: READY" in output
        assert "model broken: UNAVAILABLE:" in output and "Protobuf parsing failed" in output
        from sigctl.client import SigClient

        with SigClient(f"127.0.0.1:{ports[0]}", "balloons") as client:
            assert client.sample(1, 0, 20, 20).shape == (1, 20, 20, 3)
    finally:
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=60)
    assert process.returncode == 0, rest
