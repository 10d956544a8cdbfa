"""Real-world input files: each either loads correctly or fails with a clear ImageInputError."""

import numpy as np
import pytest
from PIL import Image

from sigctl.core.images import load_rgb
from sigctl.core.pixels import make_grid, resize, to_network, to_uint8
from sigctl.errors import ImageInputError

from ..conftest import BALLOONS, IMAGES


def test_bundled_rgba_with_opaque_alpha_drops_alpha():
    rgb = load_rgb(IMAGES / "train" / "birds.png")
    raw = np.asarray(Image.open(IMAGES / "train" / "birds.png"))
    assert rgb.shape == raw.shape[:2] + (3,)
    assert np.array_equal(rgb, raw[:, :, :3])


def test_partly_transparent_image_is_composited_over_white(tmp_path):
    rgba = np.zeros((30, 30, 4), np.uint8)
    rgba[:, :, 0] = 200
    rgba[:, :15, 3] = 255  # left half opaque red-ish, right half fully transparent
    Image.fromarray(rgba).save(tmp_path / "a.png")
    rgb = load_rgb(tmp_path / "a.png")
    assert rgb[0, 0].tolist() == [200, 0, 0]
    assert rgb[0, 29].tolist() == [255, 255, 255]


def test_grayscale_palette_and_jpeg(tmp_path):
    base = np.asarray(Image.open(BALLOONS).convert("RGB"))
    Image.fromarray(base).convert("L").save(tmp_path / "g.png")
    Image.fromarray(base).convert("P", palette=Image.ADAPTIVE).save(tmp_path / "p.png")
    Image.fromarray(base).save(tmp_path / "j.jpg", quality=90)
    grey = load_rgb(tmp_path / "g.png")
    assert grey.shape == base.shape and np.array_equal(grey[..., 0], grey[..., 2])
    assert load_rgb(tmp_path / "p.png").shape == base.shape
    jpeg = load_rgb(tmp_path / "j.jpg")
    assert np.abs(jpeg.astype(int) - base).mean() < 6


def test_16_bit_png_is_rescaled_not_clipped(tmp_path):
    ramp = np.linspace(0, 65535, 40 * 40).reshape(40, 40).astype(np.uint16)
    Image.fromarray(ramp).save(tmp_path / "deep.png")
    rgb = load_rgb(tmp_path / "deep.png")
    assert rgb[0, 0, 0] == 0 and rgb[-1, -1, 0] == 255
    assert 120 < rgb[20, 0, 0] < 135  # the middle of the ramp stays in the middle


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: p.write_text("hello, I am text"), "not an image file"),
        (lambda p: p.write_bytes(BALLOONS.read_bytes()[:2000]), "could not be decoded"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: None, "no such file"),
    ],
)
def test_unusable_files_give_clear_errors(tmp_path, make, message):
    path = tmp_path / "input.png"
    make(path)
    with pytest.raises(ImageInputError, match=message):
        load_rgb(path)


def test_network_conversion_round_trips_and_resize_keeps_range():
    rgb = load_rgb(BALLOONS)
    assert np.array_equal(to_uint8(to_network(rgb)), rgb)
    small = resize(to_network(rgb), 40, 53)
    assert small.shape == (3, 40, 53) and small.dtype == np.float32
    assert small.min() >= -1.1 and small.max() <= 1.1


def test_grid_holds_every_image():
    images = [np.full((10, 12, 3), value, np.uint8) for value in (0, 100, 200)]
    grid = make_grid(images, columns=3, gap=2, min_cell=1)
    assert grid.shape == (14, 2 + 3 * 14, 3)
    assert grid[5, 2 + 14 + 5].tolist() == [100, 100, 100]


def test_masks_treat_transparent_as_keep(tmp_path):
    from sigctl.core.images import load_mask

    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:, :, :3] = 255  # white everywhere ...
    rgba[5:10, 5:10, 3] = 255  # ... but opaque only in a square
    Image.fromarray(rgba).save(tmp_path / "m.png")
    mask = load_mask(tmp_path / "m.png")
    assert mask.shape == (20, 20)
    assert (mask > 127).sum() == 25 and mask[0, 0] == 0
    assert np.array_equal(load_mask(IMAGES / "editing/tree_edit_mask.png") > 127, load_rgb(IMAGES / "editing/tree_edit_mask.png").max(axis=2) > 127)
