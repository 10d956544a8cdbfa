"""sigctl train-many --executor local: one artifact per image, worker loss, SIGKILL and re-runs."""

from __future__ import annotations

import os
import signal
import subprocess

import pytest
import yaml

from sigctl.cluster.jobfile import load_train_job
from sigctl.errors import SettingsError
from tests.cluster.helpers import (IMAGE_NAMES, alive, check_artifacts, command, lines, position, run, snapshot, trainer_pid,
                                   wait_for, write_job)


def test_job_trains_one_artifact_per_image_and_a_rerun_does_nothing(tmp_path):
    job = write_job(tmp_path, count=3, iterations=8)
    result = run(job, "--parallel", "2")
    assert result.returncode == 0, result.stderr
    output = tmp_path / "out"
    check_artifacts(output, 3)
    written = lines(output)
    assert sorted(line["id"] for line in written) == sorted(IMAGE_NAMES)
    assert {(line["status"], line["resumed_from"], line["attempts"]) for line in written} == {("trained", None, 1)}
    before = snapshot(output)
    again = run(job, "--parallel", "2")
    assert again.returncode == 0, again.stderr
    assert "3 already done, 0 trained" in " ".join(again.stdout.split())
    assert snapshot(output) == before  # not a file touched, not a manifest line added


@pytest.mark.slow
def test_a_killed_worker_is_retried_and_resumes_from_its_checkpoint(tmp_path):
    job = write_job(tmp_path, count=2, iterations=60)
    output = tmp_path / "out"
    process = subprocess.Popen(command(job, "--parallel", "1"), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        wait_for(lambda: position(output / "balloons")[0] >= 1, 300, "balloons' first stage checkpoint")
        worker = trainer_pid(process.pid)
        killed_at = position(output / "balloons")
        os.kill(worker, signal.SIGKILL)
        assert process.wait(timeout=600) == 0, process.stderr.read()
    finally:
        process.kill()
    check_artifacts(output, 2)
    by_id = {line["id"]: line for line in lines(output)}
    assert by_id["balloons"]["attempts"] == 2
    resumed = by_id["balloons"]["resumed_from"]
    # From a checkpoint no earlier than the one seen before the kill: not from zero.
    assert (resumed["completed_stages"], resumed["stage_iterations_done"]) >= killed_at >= (1, 0)
    assert (by_id["cows"]["attempts"], by_id["cows"]["resumed_from"]) == (1, None)


@pytest.mark.slow
def test_a_job_killed_with_sigkill_completes_the_rest_when_rerun(tmp_path):
    job = write_job(tmp_path, count=3, iterations=30)
    output = tmp_path / "out"
    process = subprocess.Popen(command(job), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: (output / "balloons" / "manifest.json").exists() and position(output / "cows")[0] >= 1, 300,
                 "balloons finished and cows' first checkpoint")
        worker = trainer_pid(process.pid)
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    wait_for(lambda: not alive(worker), 30, "the worker to die with its job")
    assert not (output / "cows" / "manifest.json").exists()
    result = run(job)
    assert result.returncode == 0, result.stderr
    check_artifacts(output, 3)
    trained = [line for line in lines(output) if line["status"] == "trained"]
    assert sorted(line["id"] for line in trained) == sorted(IMAGE_NAMES)  # each image trained once, none twice
    assert {line["id"]: line["resumed_from"] is not None for line in trained} == {"balloons": False, "cows": True, "stone": False}


def test_a_changed_job_under_the_same_output_is_refused(tmp_path):
    job = write_job(tmp_path, count=1, iterations=2)
    assert run(job).returncode == 0
    values = yaml.safe_load(job.read_text())
    values["settings"]["optimizer"]["iterations_per_scale"] = 3
    job.write_text(yaml.safe_dump(values))
    result = run(job)
    assert result.returncode == 2
    assert "made by a different job (its settings differ" in " ".join(result.stderr.split())


def test_job_file_errors_name_the_field_and_line(tmp_path):
    (tmp_path / "a.png").write_bytes(b"")
    job = tmp_path / "job.yaml"
    job.write_text("output: out\nimages:\n  - nothing/*.png\npreset: tiny\nnaming: '../{stem}'\n")
    with pytest.raises(SettingsError, match=r"line 3: images\.0: 'nothing/\*\.png' matches no image"):
        load_train_job(job)
    job.write_text("output: out\nimages: [a.png]\npreset: tiny\nnaming: '../{stem}'\n")
    with pytest.raises(SettingsError, match=r"line 4: naming: .*climbs out of its folder"):
        load_train_job(job)
    job.write_text("output: out\nimages: [a.png]\npreset: tiny\nnaming: '{name}'\n")
    with pytest.raises(SettingsError, match=r"line 4: naming: unknown field \{name\}"):
        load_train_job(job)
    job.write_text("output: out\nimages: [a.png, a.png]\npreset: tiny\nworkers: 3\n")
    with pytest.raises(SettingsError, match=r"line 4: workers: Extra inputs are not permitted"):
        load_train_job(job)
