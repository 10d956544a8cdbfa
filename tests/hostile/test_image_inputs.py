"""Hostile image files: decompression bombs, huge images, truncated files and huge masks, through the
loader and through the CLI. Sizes are checked from the header before anything is decoded; a large
training image is shrunk while decoding; nothing changes Pillow's process-wide limit."""

from __future__ import annotations

import re
import resource
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app
from sigctl.core.images import MAX_REQUEST_IMAGE_PIXELS, MAX_TRAINING_PIXELS, load_mask, load_rgb, load_rgb_shrunk
from sigctl.errors import ImageInputError

from ..conftest import BALLOONS, IMAGES

SRC = Path(__file__).resolve().parents[2] / "src"
MEMORY_CAP = 2 * 1024**3
runner = CliRunner()


def png(path: Path, width: int, height: int, rows: bytes | None = None, level: int = 9) -> Path:
    """An RGB PNG of all-black rows written without ever holding the image: a 19000 x 19000 one is
    ~1 MB. ``rows=b""`` writes the header alone (no pixel data)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    if rows is None:
        compressor, row = zlib.compressobj(level), b"\0" * (3 * width + 1)
        rows = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + header + (chunk(b"IDAT", rows) if rows else b"") + chunk(b"IEND", b""))
    return path


@pytest.fixture(scope="module")
def bomb(tmp_path_factory) -> Path:
    """The issue's bomb: a ~1 MB PNG of 19000 x 19000 px (1 GB decoded)."""
    path = png(tmp_path_factory.mktemp("bomb") / "bomb.png", 19000, 19000)
    assert path.stat().st_size < 1.2e6
    return path


@pytest.fixture(scope="module")
def huge_jpeg(tmp_path_factory) -> Path:
    """A real 36 Mpx photo-sized JPEG (the balloons, enlarged)."""
    path = tmp_path_factory.mktemp("huge") / "huge.jpg"
    Image.open(BALLOONS).convert("RGB").resize((6000, 6000)).save(path, quality=90)
    return path


def _capped(memory_bytes: int):
    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    return limit


def run_capped(*args: str, timeout_s: float = 60) -> tuple[subprocess.CompletedProcess, float]:
    """``python -m sigctl ARGS`` with its address space capped (a bomb that decoded would die here)."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "sigctl", *args], capture_output=True, text=True, timeout=timeout_s,
        preexec_fn=_capped(MEMORY_CAP), env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin", "COLUMNS": "200"},
    )
    return result, time.monotonic() - started


# -- the loader ---------------------------------------------------------------------------------


def test_a_bomb_is_refused_from_its_header_by_every_loader(bomb):
    before = Image.MAX_IMAGE_PIXELS
    for load in (load_rgb, load_mask, lambda path: load_rgb_shrunk(path, 250)):
        started = time.monotonic()
        with pytest.raises(ImageInputError, match="too large to open.*downscale it first"):
            load(bomb)
        assert time.monotonic() - started < 1.0
    assert Image.MAX_IMAGE_PIXELS == before  # never raised (or lowered) process-wide


@pytest.mark.parametrize(
    "width, height, load, message",
    [
        (9000, 8000, lambda p: load_rgb_shrunk(p, 250), r"is 9000x8000 \(72.0 Mpx\); at most 64000000 px"),
        (2049, 2049, load_rgb, r"is 2049x2049 \(4.2 Mpx\); at most 4194304 px"),
        (3000, 3000, load_mask, r"is 3000x3000 \(9.0 Mpx\); at most 4194304 px"),
    ],
    ids=["training image over 64 Mpx", "request image over 4.2 Mpx", "mask over 4.2 Mpx"],
)
def test_sizes_over_the_limit_are_refused_before_decoding(tmp_path, width, height, load, message):
    # The header alone: a loader that decoded anything would fail with "could not be decoded" instead.
    path = png(tmp_path / "header-only.png", width, height, rows=b"")
    with pytest.raises(ImageInputError, match=message):
        load(path)


def test_a_huge_jpeg_is_shrunk_while_decoding_for_training_and_refused_for_requests(huge_jpeg):
    started = time.monotonic()
    pixels, size = load_rgb_shrunk(huge_jpeg, 250)
    assert time.monotonic() - started < 3.0
    assert size == (6000, 6000)
    assert 250 <= max(pixels.shape[:2]) <= 1000  # DCT-scaled, never below the need
    reference = np.asarray(Image.open(BALLOONS).convert("RGB").resize((250, 250)), dtype=int)
    from sigctl.core.pixels import resize, to_network, to_uint8

    assert np.abs(to_uint8(resize(to_network(pixels), 250, 250)).astype(int) - reference).mean() < 6  # the same picture
    with pytest.raises(ImageInputError, match="at most 4194304 px"):
        load_rgb(huge_jpeg)
    assert MAX_TRAINING_PIXELS > 36e6 > MAX_REQUEST_IMAGE_PIXELS


@pytest.mark.parametrize("suffix, cut", [(".png", 3), (".jpg", 2)])
def test_truncated_files_are_a_clear_error(tmp_path, suffix, cut):
    source = tmp_path / f"whole{suffix}"
    Image.open(BALLOONS).convert("RGB").save(source)
    data = source.read_bytes()
    damaged = tmp_path / f"truncated{suffix}"
    damaged.write_bytes(data[: len(data) // cut])
    with pytest.raises(ImageInputError, match="could not be decoded"):
        load_rgb(damaged)


# -- the CLI --------------------------------------------------------------------------------------


def test_train_dry_run_on_the_bomb_is_refused_under_a_memory_cap_in_seconds(bomb):
    result, seconds = run_capped("train", str(bomb), "--dry-run", "--preset", "tiny")
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    assert "too large to open" in result.stderr and "downscale it first" in result.stderr
    assert seconds < 20  # an interpreter with torch starts in ~3 s; decoding the bomb took minutes


def test_train_dry_run_on_a_36_mpx_jpeg_plans_quickly_under_a_memory_cap(huge_jpeg):
    result, seconds = run_capped("train", str(huge_jpeg), "--dry-run", "--preset", "tiny")
    assert result.returncode == 0, result.stderr
    assert "pyramid" in result.stdout and "finest 32x32" in result.stdout
    assert seconds < 20  # was 48 s and 1.7 GB


@pytest.mark.parametrize(
    "command, message",
    [
        (lambda files: ["paint", "--image", files["huge_jpeg"]], r"huge.jpg is 6000x6000 \(36.0 Mpx\); at most 4194304 px"),
        (lambda files: ["edit", "--image", files["edit_image"], "--mask", files["huge_mask"]], r"mask.png is 3000x3000"),
        (lambda files: ["harmonize", "--image", files["truncated"], "--mask", files["edit_mask"]], r"could not be decoded"),
        (lambda files: ["sr", "--image", files["bomb"]], r"too large to open"),
    ],
    ids=["paint huge image", "edit huge mask", "harmonize truncated image", "sr bomb"],
)
def test_manipulation_inputs_are_checked_before_any_work(tiny_run, tmp_path, bomb, huge_jpeg, command, message):
    data = BALLOONS.read_bytes()
    (tmp_path / "truncated.png").write_bytes(data[: len(data) // 3])
    files = {
        "huge_jpeg": huge_jpeg, "bomb": bomb, "truncated": tmp_path / "truncated.png",
        "huge_mask": png(tmp_path / "mask.png", 3000, 3000, rows=b""),
        "edit_image": IMAGES / "editing/stone_edit.png", "edit_mask": IMAGES / "editing/stone_edit_mask.png",
    }
    args = [str(a) for a in command(files)]
    started = time.monotonic()
    result = runner.invoke(app, [*args[:1], "--local", str(tiny_run), *args[1:], "--out", str(tmp_path / "out.png")])
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    assert re.search(message, result.output.replace("\n", "")), result.output
    assert time.monotonic() - started < 10
    assert not (tmp_path / "out.png").exists()
