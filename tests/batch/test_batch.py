"""Batch jobs against real servers: complete, resumable after a kill, surviving a lost server."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sigctl.batch.backends import ServerPool
from sigctl.batch.jobfile import expand, load_job
from sigctl.batch.manifest import sha256_file
from sigctl.batch.runner import MARKER, run_job
from sigctl.cli import app
from sigctl.errors import SettingsError
from sigctl.serving.server import ServerSettings, TritonServer

from ..conftest import free_ports

runner = CliRunner()


def write_job(folder: Path, count=300, model="balloons", **extra) -> Path:
    job = {"output": "out", "tasks": [{"model": model, "mode": "sample", "count": count, "height": 16, "width": [16, 24], "seed_start": 5, **extra}]}
    path = folder / "job.yaml"
    path.write_text(yaml.safe_dump(job))
    return path


def assert_exactly_the_plan(job_path: Path):
    items = expand(load_job(job_path), job_path.parent)
    output = job_path.parent / "out"
    lines = [json.loads(text) for text in (output / "manifest.jsonl").read_text().splitlines()]
    assert sorted(line["id"] for line in lines) == sorted(item.id for item in items)  # each once
    for line in lines:
        assert sha256_file(output / line["file"]) == line["sha256"]
    on_disk = sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file() and p.name not in ("manifest.jsonl", MARKER))
    assert on_disk == sorted(item.file for item in items)  # nothing missing, nothing extra, no temp files
    return lines


@pytest.mark.slow
def test_a_few_hundred_items_complete_with_a_correct_manifest(triton, tmp_path):
    job = write_job(tmp_path)
    result = runner.invoke(app, ["batch", str(job), "--server", triton.settings.grpc_url])
    assert result.exit_code == 0, result.output
    assert "300 made" in result.output
    lines = assert_exactly_the_plan(job)
    first = lines[0]
    assert first["model"] == "balloons" and first["model_version"] and first["parameters"]["seed"] >= 5
    again = runner.invoke(app, ["batch", str(job), "--server", triton.settings.grpc_url])
    assert "0 made, 300 already done" in again.output

    replayed = runner.invoke(app, ["batch", "--replay", f"{job.parent / 'out' / 'manifest.jsonl'}:7", "--server", triton.settings.grpc_url, "--out", str(tmp_path / "r.png")])
    assert replayed.exit_code == 0 and "identical" in replayed.output


@pytest.mark.slow
def test_a_killed_job_rerun_ends_with_exactly_the_planned_files(triton, tmp_path):
    job = write_job(tmp_path, count=240)
    command = [sys.executable, "-m", "sigctl", "batch", str(job), "--server", triton.settings.grpc_url, "--in-flight", "2"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    manifest = tmp_path / "out" / "manifest.jsonl"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists() and len(manifest.read_text().splitlines()) >= 60:
            break
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()
    recorded = len(manifest.read_text().splitlines())
    assert 60 <= recorded < 240, "the job must be killed mid-way"
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert_exactly_the_plan(job)


@pytest.mark.slow
def test_two_servers_and_one_stops_mid_job(tiny_run, tmp_path):
    from sigctl.export.exporter import export_artifact

    repository = tmp_path / "repo"
    export_artifact(tiny_run, repository, name="balloons", formats=("onnx",))
    servers = []
    for _ in range(2):
        grpc_port, http_port, metrics_port = free_ports(3)
        server = TritonServer(ServerSettings(repository, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port))
        server.start()
        servers.append(server)
    try:
        job = write_job(tmp_path, count=200)
        items = expand(load_job(job), tmp_path)
        pool = ServerPool([s.settings.grpc_url for s in servers], in_flight=2)
        done = []

        def on_item(item, ok):
            done.append(ok)
            if len(done) == 50:
                threading.Thread(target=servers[1].stop).start()  # server B goes away mid-job

        summary = asyncio.run(run_job(items, tmp_path / "out", pool, workers=4, on_item=on_item))
        assert summary.failed == [] and summary.done == 200
        served_by = {e.url: e.done for e in pool.endpoints}
        assert served_by[servers[1].settings.grpc_url] > 0  # B did work before it stopped
        assert served_by[servers[0].settings.grpc_url] > 100  # A took over the rest
        assert_exactly_the_plan(job)
    finally:
        for server in servers:
            server.stop()


def test_an_invalid_job_file_names_the_field_and_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("output: out\ntasks:\n  - mode: sample\n    count: -3\n    height: 64\n")
    with pytest.raises(SettingsError, match=r"line 4: tasks\.0\.count"):
        load_job(path)
    path.write_text("output: out\ntasks:\n  - mode: dance\n    count: 3\n")
    result = runner.invoke(app, ["batch", str(path), "--local", "nowhere"])
    assert result.exit_code == 2 and "line 3: tasks.0.mode" in result.output and "unknown mode" in result.output
    path.write_text("output: out\ntasks:\n  - count: 3\n    colour: red\n")
    with pytest.raises(SettingsError, match=r"line 4: tasks\.0\.colour: Extra inputs"):
        load_job(path)


def test_an_output_through_a_symlink_loop_is_a_clear_error(tmp_path):
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    path = tmp_path / "job.yaml"
    path.write_text("output: a/out\ntasks:\n  - count: 1\n")
    result = runner.invoke(app, ["batch", str(path), "--local", "nowhere"])
    assert result.exit_code == 2 and "Symlink loop" in result.output and "give a path that resolves" in result.output


def test_an_unknown_model_fails_before_any_work(triton, tmp_path):
    job = write_job(tmp_path, count=10, model="giraffes")
    result = runner.invoke(app, ["batch", str(job), "--server", triton.settings.grpc_url])
    assert result.exit_code == 2 and "giraffes" in result.output and "not ready" in result.output
    assert not list((tmp_path / "out").rglob("*.png"))


def test_a_changed_job_file_is_refused_rather_than_mixed(triton, tmp_path):
    job = write_job(tmp_path, count=5)
    assert runner.invoke(app, ["batch", str(job), "--server", triton.settings.grpc_url]).exit_code == 0
    write_job(tmp_path, count=5, start_scale=1)
    result = runner.invoke(app, ["batch", str(job), "--server", triton.settings.grpc_url])
    assert result.exit_code == 2 and "the job changed" in result.output
