"""Shared fixtures: real bundled images and tiny pyramids trained once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from sigctl.config import load_settings
from sigctl.training.loop import train

REPO = Path(__file__).resolve().parents[1]
IMAGES = REPO / "examples" / "images"
BALLOONS = IMAGES / "train" / "balloons.png"
# A tiny SinGAN artifact written by sigctl before the model interface (format 2), and its pixels.
FORMAT_2_FIXTURE = REPO / "tests" / "fixtures" / "singan_format2"
FORMAT_2_PIXELS = REPO / "tests" / "fixtures" / "singan_format2_expected.npz"


@pytest.fixture(scope="session")
def tiny_settings():
    return load_settings("tiny")


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory, tiny_settings) -> Path:
    """A finished artifact trained with the tiny preset on balloons.png (a few seconds)."""
    run_dir = tmp_path_factory.mktemp("runs") / "balloons"
    train(BALLOONS, run_dir, tiny_settings)
    return run_dir


@pytest.fixture(scope="session")
def exported(tmp_path_factory, tiny_run):
    """The tiny run exported (ONNX + TorchScript) into a fresh model repository as 'balloons'."""
    from sigctl.export.exporter import export_artifact

    repository = tmp_path_factory.mktemp("model_repository")
    return export_artifact(tiny_run, repository, name="balloons")


def pytest_collection_modifyitems(config, items):
    """``gpu``-marked tests need CUDA: skipped, with the reason, where there is none."""
    import torch

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is False)")
    for item in items:
        if item.get_closest_marker("gpu") is not None:
            item.add_marker(skip)


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (bound together, so none repeats)."""
    import socket

    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


# name -> (training image, extra settings): tiny models on the real pairs the manipulations use.
ZOO = {
    "cows": ("train/cows.png", {}),
    "stone": ("train/stone.png", {}),
    "starry_night": ("train/starry_night.png", {}),
    "lightning": ("train/lightning1.png", {}),
    "lowres_sr": ("train/33039_LR.png", {"super_resolution_factor": 4.0}),  # SinGAN trained for super-resolution
    "balloons_consingan": ("train/balloons.png", {"recipe": "consingan"}),  # ConSinGAN's tiny preset
    "balloons_involution": ("train/balloons.png", {"recipe": "involution"}),  # seed 004's recipe, tiny preset
    "balloons_petsgan": ("train/balloons.png", {"recipe": "petsgan"}),  # seed 000's recipe, tiny preset
}


@pytest.fixture(scope="session")
def zoo_runs(tmp_path_factory):
    """Run directories of the ZOO models (trained only: in-process tests need no export)."""
    runs = tmp_path_factory.mktemp("zoo")
    for name, (image, extra) in ZOO.items():
        train(IMAGES / image, runs / name, load_settings("tiny", overrides=extra))
    return runs


BF16_MODEL = "balloons_bf16"  # the tiny balloons run served in bf16 (TorchScript under bf16 autocast)


@pytest.fixture(scope="session")
def zoo(zoo_runs, exported, tiny_run):
    """The ZOO runs, also exported beside 'balloons' for the session server, and BF16_MODEL."""
    from sigctl.export.exporter import export_artifact

    repository = exported.folder.parent.parent
    for name in ZOO:
        export_artifact(zoo_runs / name, repository, name=name, formats=("onnx",))
    export_artifact(tiny_run, repository, name=BF16_MODEL, formats=("torchscript",), precision="bf16")
    return zoo_runs


@pytest.fixture(scope="session")
def triton(exported, zoo):
    """A real tritonserver over the exported repository (balloons + ZOO), started once per session."""
    from sigctl.serving.server import ServerSettings, TritonServer

    grpc_port, http_port, metrics_port = free_ports(3)
    settings = ServerSettings(exported.folder.parent.parent, grpc_port=grpc_port, http_port=http_port, metrics_port=metrics_port)
    with TritonServer(settings) as server:
        yield server
