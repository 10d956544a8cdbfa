"""sigctl train-many --executor ray on a real local Ray cluster (a head without CPUs, 2 one-CPU worker nodes)."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from ray.cluster_utils import Cluster

from sigctl.cluster.runner import LOCK
from sigctl.cluster.worker import run_state, train_item
from tests.cluster.helpers import (IMAGE_NAMES, alive, check_artifacts, children, command, environment, lines, position, run, snapshot, wait_for,
                                   write_job)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    home = tmp_path_factory.mktemp("home")
    saved = {key: os.environ.get(key) for key in ("RAY_AUTH_MODE", "HOME")}
    os.environ.update(environment(home))
    # Tasks only run on the two worker nodes: one image each, so killing one loses exactly one image's worker.
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False})
    workers = [cluster.add_node(num_cpus=1) for _ in range(2)]
    cluster.wait_for_nodes()
    try:
        yield cluster, workers, environment(home)
    finally:
        started = _cluster_processes(cluster)
        cluster.shutdown()
        wait_for(lambda: not [pid for pid in started if alive(pid)], 60, "every Ray process of the test cluster to end")
        for key, value in saved.items():
            os.environ.pop(key) if value is None else os.environ.__setitem__(key, value)


def test_a_lost_node_is_survived_its_image_resumes_and_a_rerun_does_nothing(tmp_path, cluster):
    ray_cluster, workers, env = cluster
    job = write_job(tmp_path, count=2, iterations=60)
    output = tmp_path / "out"
    options = ("--executor", "ray", "--address", ray_cluster.address)
    process = subprocess.Popen(command(job, *options), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        wait_for(lambda: min(position(output / "balloons"), position(output / "cows")) >= (1, 0), 300, "both images' first checkpoints")
        seen = {name: position(output / name) for name in ("balloons", "cows")}
        ray_cluster.remove_node(workers[1])  # its raylet and its worker die mid-training
        assert process.wait(timeout=600) == 0, process.stderr.read()
    finally:
        process.kill()
    check_artifacts(output, 2)
    by_id = {line["id"]: line for line in lines(output)}
    resumed = {name: line["resumed_from"] for name, line in by_id.items() if line["resumed_from"] is not None}
    assert len(resumed) == 1  # the image of the lost node, retried on the other one
    [(name, start)] = resumed.items()
    assert (start["completed_stages"], start["stage_iterations_done"]) >= seen[name] >= (1, 0)  # from its checkpoint, not from zero
    before = snapshot(output)
    again = run(job, *options, env=env)
    assert again.returncode == 0, again.stderr
    assert "2 already done, 0 trained" in " ".join(again.stdout.split())
    assert snapshot(output) == before


def test_a_job_killed_with_sigkill_completes_the_rest_when_rerun(tmp_path, cluster):
    ray_cluster, _, env = cluster  # one or two worker nodes, as the test before left them
    job = write_job(tmp_path, count=3, iterations=30)
    output = tmp_path / "out"
    options = ("--executor", "ray", "--address", ray_cluster.address)
    # Its own process group, as in a shell: the SIGKILL takes the driver and anything it started.
    process = subprocess.Popen(command(job, *options), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        wait_for(lambda: {"done", "partial"} <= {_state(output / name) for name in IMAGE_NAMES}, 300, "one image finished and one part-trained")
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        process.kill()
    # Ray ends a dead driver's tasks: wait until no worker of this cluster trains any more, so the files hold still.
    wait_for(lambda: not _training_workers(ray_cluster), 60, "the killed job's Ray workers to end")
    states = {name: _state(output / name) for name in IMAGE_NAMES}
    finished = {name for name, state in states.items() if state == "done"}
    assert finished and "partial" in states.values()
    assert (output / LOCK).exists()  # left behind by the kill; the kernel released its lock with the process
    before = {name: snapshot(output / name) for name in finished}

    again = run(job, *options, env=env)
    assert again.returncode == 0, again.stderr
    check_artifacts(output, 3)
    assert {name: snapshot(output / name) for name in finished} == before  # finished images were not touched
    trained = [line for line in lines(output) if line["status"] == "trained"]
    rerun = {line["id"]: line for line in trained if line["id"] not in finished}
    assert sorted(rerun) == sorted(set(IMAGE_NAMES) - finished)  # the rest trained once each, none twice
    assert {name: line["resumed_from"] is not None for name, line in rerun.items()} == {name: states[name] == "partial" for name in rerun}
    assert not _training_workers(ray_cluster)


def _state(run) -> str:
    return run_state(run)[0]


def _cluster_processes(ray_cluster) -> list[int]:
    """Every process the test cluster's nodes started, and their workers (children of the raylets)."""
    found = []
    for node in [ray_cluster.head_node, *ray_cluster.worker_nodes]:
        for processes in node.all_processes.values():
            for info in processes:
                found += [info.process.pid, *children(info.process.pid)]
    return found


def _training_workers(ray_cluster) -> list[int]:
    """Workers of this cluster running a training task (Ray titles a worker ray::FUNCTION while it runs one)."""
    busy = []
    for pid in _cluster_processes(ray_cluster):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(f"ray::{train_item.__name__}".encode()):
            busy.append(pid)
    return busy
