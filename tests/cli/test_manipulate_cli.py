"""sigctl paint|edit|harmonize|sr|animate as a user types them."""

import imageio_ffmpeg
import pytest
from PIL import Image
from typer.testing import CliRunner

from sigctl.cli import app

from ..conftest import IMAGES

runner = CliRunner()


def invoke(*args):
    result = runner.invoke(app, [str(a) for a in args])
    return result


@pytest.mark.parametrize(
    "command, model, args",
    [
        ("paint", "cows", ["--image", IMAGES / "paint/cows.png", "--quantize", "5"]),
        ("edit", "stone", ["--image", IMAGES / "editing/stone_edit.png", "--mask", IMAGES / "editing/stone_edit_mask.png", "--height", 168, "--width", 250]),
        ("harmonize", "starry_night", ["--image", IMAGES / "harmonization/starry_night_naive.png", "--mask", IMAGES / "harmonization/starry_night_naive_mask.png", "--start-scale", 1]),
        ("sr", "lowres_sr", ["--image", IMAGES / "train/33039_LR.png", "--factor", 2]),
    ],
)
def test_image_commands_write_the_same_picture_locally_and_from_the_server(zoo, triton, tmp_path, command, model, args):
    local = invoke(command, "--local", zoo / model, *args, "--seed", 2, "--out", tmp_path / "local.png")
    assert local.exit_code == 0, local.output
    served = invoke(command, "--server", triton.settings.grpc_url, "--model", model, *args, "--seed", 2, "--out", tmp_path / "served.png")
    assert served.exit_code == 0, served.output
    a, b = Image.open(tmp_path / "local.png"), Image.open(tmp_path / "served.png")
    assert a.size == b.size
    if command == "sr":
        assert a.size == (160, 240)  # 80 wide x 120 high, times 2
    if command == "edit":
        assert a.size == (250, 168)


def test_several_outputs_get_numbered_files_and_a_grid(zoo_runs, tmp_path):
    result = invoke("paint", "--local", zoo_runs / "cows", "--image", IMAGES / "paint/cows.png", "--num", 3, "--seed", 7, "--out", tmp_path / "p.png")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["p_grid.png", "p_seed7.png", "p_seed8.png", "p_seed9.png"]


def test_animate_writes_gif_and_mp4_with_the_requested_frames(zoo_runs, tmp_path):
    gif = invoke("animate", "--local", zoo_runs / "lightning", "--frames", 8, "--fps", 12, "--out", tmp_path / "a.gif")
    assert gif.exit_code == 0, gif.output
    assert Image.open(tmp_path / "a.gif").n_frames == 8
    mp4 = invoke("animate", "--local", zoo_runs / "lightning", "--frames", 8, "--fps", 12, "--out", tmp_path / "a.mp4")
    assert mp4.exit_code == 0, mp4.output
    frames, _ = imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "a.mp4"))
    assert frames == 8


@pytest.mark.parametrize(
    "args, message",
    [
        (["edit", "--image", IMAGES / "editing/stone_edit.png", "--mask", IMAGES / "paint/cows.png"], "they must match"),
        (["sr", "--image", IMAGES / "train/33039_LR.png"], "does not answer super_resolve requests"),
        (["animate", "--out", "clip.avi"], ".gif or .mp4"),
        (["paint", "--image", IMAGES / "paint/cows.png", "--out", "x.jpg"], ".png"),
    ],
)
def test_wrong_inputs_are_one_clear_line(zoo_runs, tmp_path, args, message):
    model = "stone" if args[0] == "edit" else "cows" if args[0] == "paint" else "lightning" if args[0] == "animate" else "stone"
    fixed = [tmp_path / a if isinstance(a, str) and a.endswith((".avi", ".jpg")) else a for a in args]
    result = invoke(*fixed[:1], "--local", zoo_runs / model, *fixed[1:])
    assert result.exit_code == 2, result.output
    assert message in result.output and "Traceback" not in result.output
