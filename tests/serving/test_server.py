"""The real tritonserver: gRPC samples equal in-process ones, bad requests are refused, a dead
backend process is recovered, and shutdown leaves nothing behind."""

import os
import signal
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

from sigctl import artifact
from sigctl.client import RequestRejected, ServerRequestError, SigClient
from sigctl.core.in_process import sample_images
from sigctl.core.operations import Request
from sigctl.serving import contract
from sigctl.serving.server import ServerSettings, TritonServer

from ..conftest import free_ports


@pytest.fixture(scope="module")
def pyramid(tiny_run):
    return artifact.load(tiny_run).model


def assert_same_within_one_level(served, local):
    difference = np.abs(served.astype(int) - local.astype(int))
    assert served.shape == local.shape
    assert difference.max() <= 1 and (difference > 0).mean() < 0.01


def test_grpc_sample_equals_in_process_sample(triton, pyramid):
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        for height, width, start in [(None, None, 0), (37, 91, 0), (40, 30, 1)]:
            served = client.sample(3, 21, height, width, start)
            local = sample_images(pyramid, 3, 21, height, width, start)
            assert_same_within_one_level(served, local)
        again = client.sample(3, 21, 37, 91, 0)
        assert np.array_equal(again, client.sample(3, 21, 37, 91, 0))  # the server is deterministic
        assert np.array_equal(client.sample(1, 23, 37, 91, 0)[0], again[2])  # batch-independent


def test_reconstruction_and_metadata(triton, pyramid):
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        assert "balloons" in client.models()
        info = client.info()
        assert info.num_stages == pyramid.num_trained and info.recipe == "singan"
        assert info.stage_sizes == list(pyramid.layout.sizes)
        assert info.training_size == pyramid.layout.finest_size
        reconstruction = client.reconstruct()
        assert reconstruction.shape == (1, *pyramid.layout.finest_size, 3)


def test_eight_threads_at_once_all_get_correct_images(triton, pyramid):
    expected = {seed: sample_images(pyramid, 2, seed, 32, 48) for seed in range(8)}
    results, errors = {}, []

    def worker(seed):
        try:
            with SigClient(triton.settings.grpc_url, "balloons") as client:
                results[seed] = client.sample(2, seed, 32, 48)
        except Exception as error:  # noqa: BLE001 - collected and asserted below
            errors.append(error)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    for seed, images in results.items():
        assert_same_within_one_level(images, expected[seed])
    assert len(results) == 8


def _raw_infer(url, tensors, types=None):
    inputs = []
    for name, value in tensors.items():
        datatype = (types or {}).get(name) or contract.wire_type(contract.INPUTS_BY_NAME[name])
        tensor = grpcclient.InferInput(name, list(value.shape), datatype)
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    with grpcclient.InferenceServerClient(url) as client:
        return client.infer("balloons", inputs)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda t: t.pop("SEED"), "SEED is required"),
        (lambda t: t.update(HEIGHT=np.array([100000], np.int32), WIDTH=np.array([100000], np.int32)), "exceeds the limit"),
        (lambda t: t.update(HEIGHT=np.array([3], np.int32)), "too small"),
        (lambda t: t.update(NUM_SAMPLES=np.array([65], np.int32)), "between 1 and 64"),
        (lambda t: t.update(START_SCALE=np.array([99], np.int32)), "out of range"),
        (lambda t: t.update(MODE=np.array([b"teleport"], np.object_)), "not supported"),
        (lambda t: t.update(SEED=np.array([-5], np.int64)), "seed"),
    ],
)
def test_bad_requests_are_invalid_argument_and_the_server_stays_ready(triton, change, message):
    tensors = contract.build_inputs(Request(seed=1, height=32, width=32))
    change(tensors)
    with pytest.raises(InferenceServerException) as caught:
        _raw_infer(triton.settings.grpc_url, tensors)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"
    assert message in caught.value.message()
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        assert client.sample(1, 0, 20, 20).shape == (1, 20, 20, 3)


@pytest.mark.parametrize(
    "tensors, types",
    [
        ({"SEED": np.array([1], np.int32)}, {"SEED": "INT32"}),  # wrong type
        ({"SEED": np.array([1, 2], np.int64)}, None),  # wrong shape
        ({"SEED": np.array([1], np.int64), "COLOUR": np.array([1], np.int32)}, {"COLOUR": "INT32"}),  # unknown input
    ],
)
def test_wrong_tensor_types_shapes_and_names_are_refused(triton, tensors, types):
    with pytest.raises(InferenceServerException) as caught:
        _raw_infer(triton.settings.grpc_url, tensors, types)
    assert caught.value.status() == "StatusCode.INVALID_ARGUMENT"


def test_client_raises_request_rejected_for_invalid_requests(triton):
    with SigClient(triton.settings.grpc_url, "balloons") as client:
        with pytest.raises(RequestRejected, match="out of range"):
            client.sample(1, 0, start_scale=42)


@pytest.mark.slow
def test_a_killed_backend_process_is_recovered(tiny_run, tmp_path):
    from sigctl.export.exporter import export_artifact

    export_artifact(tiny_run, tmp_path, name="balloons", formats=("onnx",))
    grpc_port, http_port, metrics_port = free_ports(3)
    settings = ServerSettings(tmp_path, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port)
    server = TritonServer(settings)
    server.start()
    try:
        server.start_watchdog()
        with SigClient(settings.grpc_url, "balloons") as client:
            before = client.sample(1, 3, 24, 24)
            (stub,) = [pid for pid in _stub_pids(server)]
            os.kill(stub, signal.SIGKILL)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and "balloons" not in server.reloads:
                time.sleep(0.2)
            assert server.reloads == ["balloons"]
            _wait_ready(client)
            assert np.array_equal(client.sample(1, 3, 24, 24), before)
    finally:
        server.stop()
    _assert_nothing_left(server)


@pytest.mark.slow
def test_shutdown_is_prompt_after_a_request_reached_a_dead_backend_process(tiny_run, tmp_path):
    """Triton 2.51 never finishes unloading a model version that got a request while its stub was
    dead, and its shutdown then waited its whole 30 s exit timeout; stop() must not."""
    from sigctl.export.exporter import export_artifact

    export_artifact(tiny_run, tmp_path, name="balloons", formats=("onnx",))
    grpc_port, http_port, metrics_port = free_ports(3)
    server = TritonServer(ServerSettings(tmp_path, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port))
    server.start()
    try:
        (stub,) = _stub_pids(server)
        os.kill(stub, signal.SIGKILL)
        time.sleep(0.5)
        with SigClient(server.settings.grpc_url, "balloons") as client:
            with pytest.raises(ServerRequestError, match="not healthy"):
                client.sample(1, 3, 24, 24)
            assert server.heal() == ["balloons"] and server.stuck_unloads == 1
            _wait_ready(client)
            assert client.sample(1, 3, 24, 24).shape == (1, 24, 24, 3)
    finally:
        started = time.monotonic()
        server.stop()
        stopped_in = time.monotonic() - started
    assert stopped_in < 10, f"stop took {stopped_in:.1f} s"
    _assert_nothing_left(server)


@pytest.mark.slow
def test_clean_shutdown_leaves_no_processes_or_shared_memory(exported):
    grpc_port, http_port, metrics_port = free_ports(3)
    settings = ServerSettings(exported.folder.parent.parent, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port)
    with TritonServer(settings) as server:
        assert list(Path("/dev/shm").glob(f"{server.shm_prefix}*"))
        stubs = _stub_pids(server)
        assert stubs
    _assert_nothing_left(server, stubs)


def _stub_pids(server):
    from sigctl.serving.processes import children as _children

    return [pid for pid in _children(server.process.pid) if b"triton_python_backend_stub" in Path(f"/proc/{pid}/cmdline").read_bytes()]


def _wait_ready(client, timeout_s=60):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if "balloons" in client.models():
            return
        time.sleep(0.2)


def _assert_nothing_left(server, extra_pids=()):
    assert server.process.poll() is not None
    for pid in [server.process.pid, *extra_pids]:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]
    assert not list(Path("/dev/shm").glob(f"{server.shm_prefix}*"))
