"""sigctl train-many --executor ray on a real local Ray cluster (a head without CPUs, 2 one-CPU worker nodes)."""

from __future__ import annotations

import os
import subprocess

import pytest
from ray.cluster_utils import Cluster

from tests.cluster.helpers import check_artifacts, command, environment, lines, position, run, snapshot, wait_for, write_job

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
        cluster.shutdown()
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
