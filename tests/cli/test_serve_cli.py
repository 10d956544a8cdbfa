"""`sigctl export`, `sigctl serve` and `sigctl sample --server` as a user runs them."""

import pytest
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app

from ..conftest import free_ports

runner = CliRunner()


@pytest.mark.slow
def test_export_serve_sample_and_stop(tiny_run, tmp_path):
    repository = tmp_path / "repo"
    exported = runner.invoke(app, ["export", str(tiny_run), "--repo", str(repository), "--name", "tiny"])
    assert exported.exit_code == 0, exported.output
    assert "published tiny version 1" in exported.output

    grpc_port, http_port, metrics_port = free_ports(3)
    serve = subprocess.Popen(
        [sys.executable, "-m", "sigctl", "serve", "--repo", str(repository), "--grpc-port", str(grpc_port),
         "--http-port", str(http_port), "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        output = _read_until(serve, "Ctrl-C or SIGTERM", timeout_s=120)
        assert f"gRPC 127.0.0.1:{grpc_port}" in output and "model tiny: READY" in output

        for where, args in (("server", ["--server", f"127.0.0.1:{grpc_port}"]), ("local", ["--local", str(tiny_run)])):
            result = runner.invoke(app, ["sample", *args, "--num", "2", "--height", "30", "--width", "44", "--seed", "8", "--out", str(tmp_path / where)])
            assert result.exit_code == 0, result.output
        for name in ("seed8_30x44_start0.png", "seed9_30x44_start0.png", "grid.png"):
            served = np.asarray(Image.open(tmp_path / "server" / name), dtype=int)
            local = np.asarray(Image.open(tmp_path / "local" / name), dtype=int)
            assert np.abs(served - local).max() <= 1

        wrong = runner.invoke(app, ["sample", "--server", f"127.0.0.1:{grpc_port}", "--model", "nope", "--out", str(tmp_path / "x")])
        assert wrong.exit_code == 2 and "nope" in wrong.output

        # Kill the model's backend process: sigctl serve must notice and reload the model.
        stubs = [int(line.split()[0]) for line in _processes(with_pid=True) if "triton_python_backend_stub" in line and str(repository) in line]
        assert len(stubs) == 1
        os.kill(stubs[0], signal.SIGKILL)
        recovered = _sample_until_it_works(f"127.0.0.1:{grpc_port}", tmp_path / "after-kill", timeout_s=90)
        assert np.array_equal(
            np.asarray(Image.open(recovered / "seed8_30x44_start0.png")), np.asarray(Image.open(tmp_path / "server" / "seed8_30x44_start0.png"))
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        stopping = time.monotonic()
        rest, _ = serve.communicate(timeout=60)
        stopped_in = time.monotonic() - stopping
    assert serve.returncode == 0, rest
    assert "stopped." in rest
    # Requests sent while the stub was dead leave Triton unable to finish that unload: shutdown used
    # to wait out Triton's 30 s exit timeout and fall back to SIGKILL.
    assert stopped_in < 15 and "did not stop within" not in rest, (stopped_in, rest)
    assert "lost its backend process; reloading it" in rest
    assert not [line for line in _processes() if str(repository) in line]


def test_serve_refuses_a_missing_repository(tmp_path):
    result = runner.invoke(app, ["serve", "--repo", str(tmp_path / "none")])
    assert result.exit_code == 2 and "does not exist" in result.output


def test_sample_from_an_unreachable_server_is_a_clear_error(tmp_path):
    (port,) = free_ports(1)
    result = runner.invoke(app, ["sample", "--server", f"127.0.0.1:{port}", "--model", "m", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "Traceback" not in result.output


def _read_until(process, marker, timeout_s):
    seen = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if marker in line:
            return "".join(seen)
    raise AssertionError("sigctl serve did not become ready:\n" + "".join(seen))


def _sample_until_it_works(url, out, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = runner.invoke(app, ["sample", "--server", url, "--num", "1", "--height", "30", "--width", "44", "--seed", "8", "--out", str(out)])
        if result.exit_code == 0:
            return out
        time.sleep(0.5)
    raise AssertionError(f"the model did not recover within {timeout_s} s: {result.output}")


def _processes(with_pid=False):
    lines = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            lines.append(f"{entry.name} {command}" if with_pid else command)
    return lines
