"""Manipulations in process on tiny models trained on the real image pairs."""

import numpy as np
import pytest
import torch

from sigctl import artifact
from sigctl.core import masks
from sigctl.core.images import load_rgb
from sigctl.core.operations import Request, execute
from sigctl.core.pixels import resize, resize_uint8, to_network, to_uint8
from sigctl.core.in_process import TorchExecutor
from sigctl.core.models.singan import upsample
from sigctl.errors import RequestError

from ..conftest import IMAGES
from ..handmade import LAYOUT, formula_pyramid, gradient_image


@pytest.fixture(scope="module")
def executors(zoo_runs, tiny_run):
    loaded = {name: artifact.load(zoo_runs / name).executor() for name in ("cows", "stone", "starry_night", "lightning", "lowres_sr")}
    loaded["balloons"] = artifact.load(tiny_run).executor()
    return loaded


def mean_difference(a, b):
    return np.abs(a.astype(float) - b.astype(float)).mean()


def chain_of_upsamplings(image: np.ndarray, sizes) -> np.ndarray:
    """What a zero-residual pyramid makes of a 1x3xhxw image: bilinear upsampling scale by scale."""
    x = torch.from_numpy(image)
    for size in sizes:
        x = upsample(x, size)
    return x.numpy()


def test_paint_injects_the_painting_below_the_start_scale():
    # A pyramid whose generators add nothing: the output must be the painting, brought to the output
    # size, shrunk to the scale below the start scale and upsampled back, exactly (no training luck).
    executor = TorchExecutor(formula_pyramid(torch.float32, zero_residual=True), reference=gradient_image(*LAYOUT.finest_size))
    painting = load_rgb(IMAGES / "paint" / "cows.png")
    height, width = LAYOUT.finest_size
    for start_scale in (1, 2):
        painted = execute(executor, Request("paint", seed=1, image=painting, num_samples=2, start_scale=start_scale))
        entering = resize(to_network(resize_uint8(painting, height, width)), *LAYOUT.sizes[start_scale - 1])[None]
        expected = to_uint8(chain_of_upsamplings(entering, LAYOUT.sizes[start_scale:]))
        assert np.array_equal(painted, np.repeat(expected, 2, axis=0)), start_scale
    # Random samples of the same pyramid are flat grey: the picture came from the painting alone.
    assert np.all(execute(executor, Request("sample", seed=1)) == 128)


def test_paint_is_reproducible_and_quantization_changes_it(executors):
    cows = executors["cows"]
    painting = load_rgb(IMAGES / "paint" / "cows.png")
    painted = execute(cows, Request("paint", seed=1, image=painting, num_samples=2))
    assert painted.shape == (2, *cows.layout.finest_size, 3)
    assert np.array_equal(painted, execute(cows, Request("paint", seed=1, image=painting, num_samples=2)))
    quantized = execute(cows, Request("paint", seed=1, image=painting, quantize_colors=4))
    assert quantized.shape == (1, *cows.layout.finest_size, 3) and not np.array_equal(quantized[0], painted[0])


@pytest.mark.parametrize(
    "model, mode, image, mask",
    [
        ("stone", "edit", "editing/stone_edit.png", "editing/stone_edit_mask.png"),
        ("starry_night", "harmonize", "harmonization/starry_night_naive.png", "harmonization/starry_night_naive_mask.png"),
    ],
)
def test_pixels_away_from_the_mask_are_the_input_exactly(executors, model, mode, image, mask):
    picture = load_rgb(IMAGES / image)
    region = load_rgb(IMAGES / mask).max(axis=2)
    height, width = picture.shape[:2]
    out = execute(executors[model], Request(mode, seed=3, image=picture, mask=region, height=height, width=width))
    assert out.shape == (1, height, width, 3)
    soft = masks.soft_mask(region, height, width, dilation=5, blur=5)
    untouched = soft == 0
    assert untouched.mean() > 0.5
    assert np.array_equal(out[0][untouched], picture[untouched])
    inside = soft == 1
    assert inside.any() and not np.array_equal(out[0][inside], picture[inside])


def test_super_resolution_multiplies_the_size_exactly(executors):
    sr = executors["lowres_sr"]
    low = load_rgb(IMAGES / "train" / "33039_LR.png")[:41, :67]  # odd sizes on purpose
    for factor, expected in ((4.0, (164, 268)), (2.0, (82, 134)), (2.5, (102, 168))):
        out = execute(sr, Request("super_resolve", seed=0, image=low, sr_factor=factor))
        assert out.shape == (1, *expected, 3), factor
    default = execute(sr, Request("super_resolve", seed=0, image=low))
    assert default.shape == (1, 164, 268, 3)  # the factor it was trained for


def test_super_resolution_enlarges_the_input_step_by_step():
    # Zero-residual generators: SR must be the input upsampled by the pyramid's factor per step,
    # landing exactly on factor x the input size.
    step = LAYOUT.scale_factor
    model = formula_pyramid(torch.float32, zero_residual=True)
    model.super_resolution_factor = step**2  # as a model trained for super-resolution
    executor = TorchExecutor(model)
    low = gradient_image(20, 30)
    out = execute(executor, Request("super_resolve", seed=0, image=low))
    sizes = [(round(20 * step), round(30 * step)), (round(20 * step**2), round(30 * step**2))]
    assert np.array_equal(out, to_uint8(chain_of_upsamplings(to_network(low)[None], sizes)))


def test_animation_frames_move_smoothly():
    lightning = TorchExecutor(formula_pyramid(torch.float32))
    frames = execute(lightning, Request("animate", seed=2, frames=12))
    assert frames.shape == (12, *lightning.layout.finest_size, 3)
    consecutive = np.mean([mean_difference(frames[i], frames[i + 1]) for i in range(11)])
    samples = execute(lightning, Request("sample", seed=2, num_samples=6))
    between_samples = np.mean([mean_difference(samples[i], samples[j]) for i in range(6) for j in range(i + 1, 6)])
    assert 0 < consecutive < between_samples


def test_reconstruction_mode_is_the_training_reconstruction(executors):
    balloons = executors["balloons"]
    out = execute(balloons, Request("reconstruct"))
    assert out.shape == (1, *balloons.layout.finest_size, 3)
    assert np.array_equal(out, to_uint8(balloons.model.reconstruct().numpy()))


@pytest.mark.parametrize(
    "model, request_fields, message",
    [
        ("stone", {"mode": "edit", "image": "editing/stone_edit.png", "mask": "paint/cows.png"}, "they must match"),
        ("stone", {"mode": "edit", "image": "editing/stone_edit.png"}, "needs a mask"),
        ("cows", {"mode": "paint"}, "needs an input image"),
        ("cows", {"mode": "paint", "image": "paint/cows.png", "start_scale": 40}, "out of range"),
        ("cows", {"mode": "paint", "image": "paint/cows.png", "quantize_colors": 99}, "quantize colours"),
        ("balloons", {"mode": "super_resolve", "image": "train/33039_LR.png"}, "does not answer super_resolve requests"),
        ("lowres_sr", {"mode": "super_resolve", "image": "train/33039_LR.png", "sr_factor": 100.0}, "factor must be"),
        ("lightning", {"mode": "animate", "frames": 100000}, "frames must be between"),
        ("lightning", {"mode": "teleport"}, "not supported"),
        ("cows", {"mode": "paint", "image": "paint/cows.png", "seed": -3}, "seed must be"),
    ],
)
def test_wrong_manipulation_inputs_give_clear_errors(executors, model, request_fields, message):
    fields = dict(request_fields)
    for key in ("image", "mask"):
        if key in fields:
            picture = load_rgb(IMAGES / fields[key])
            fields[key] = picture if key == "image" else picture.max(axis=2)
    with pytest.raises(RequestError, match=message):
        execute(executors[model], Request(**fields))
