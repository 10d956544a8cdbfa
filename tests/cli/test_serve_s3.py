"""`sigctl serve --repo s3://...`: a repository on an S3-compatible server (moto, on 127.0.0.1) is served."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app

from ..conftest import free_ports
from .test_serve_cli import _read_until

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}


@pytest.fixture
def s3_endpoint(monkeypatch):
    from moto.server import ThreadedMotoServer

    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    [port] = free_ports(1)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()


@pytest.mark.slow
def test_a_repository_in_an_s3_bucket_is_served_and_answers_as_the_artifact_does(tiny_run, tmp_path, s3_endpoint):
    import boto3

    repository = tmp_path / "repo"
    assert CliRunner().invoke(app, ["export", str(tiny_run), "--repo", str(repository), "--name", "tiny", "--format", "onnx"]).exit_code == 0
    bucket = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1")
    bucket.create_bucket(Bucket="models")
    for path in repository.rglob("*"):
        if path.is_file():
            bucket.upload_file(str(path), "models", f"published/{path.relative_to(repository).as_posix()}")

    grpc_port, http_port, metrics_port = free_ports(3)
    serve = subprocess.Popen(
        [sys.executable, "-m", "sigctl", "serve", "--repo", f"s3://{s3_endpoint}/models/published", "--grpc-port", str(grpc_port),
         "--http-port", str(http_port), "--metrics-port", str(metrics_port)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **CREDENTIALS},
    )
    try:
        output = _read_until(serve, "Ctrl-C or SIGTERM", timeout_s=120)
        assert "model tiny: READY" in output
        for where, args in (("server", ["--server", f"127.0.0.1:{grpc_port}"]), ("local", ["--local", str(tiny_run)])):
            result = CliRunner().invoke(app, ["sample", *args, "--num", "2", "--height", "30", "--width", "44", "--seed", "8", "--out", str(tmp_path / where)])
            assert result.exit_code == 0, result.output
        for name in ("seed8_30x44_start0.png", "seed9_30x44_start0.png"):
            served = np.asarray(Image.open(tmp_path / "server" / name), dtype=int)
            local = np.asarray(Image.open(tmp_path / "local" / name), dtype=int)
            assert np.abs(served - local).max() <= 1
    finally:
        serve.send_signal(signal.SIGTERM)
        rest, _ = serve.communicate(timeout=60)
    assert serve.returncode == 0, rest
