"""sigctl style as a user types it, locally and from the server, and a batch job of style items."""

import json
import shutil

import numpy as np
import yaml
from PIL import Image
from typer.testing import CliRunner

from sigctl import artifact
from sigctl.cli import app
from sigctl.core.images import load_rgb
from sigctl.core.operations import Request, execute

from ..conftest import IMAGES

runner = CliRunner()
CONTENT = IMAGES / "train" / "starry_night.png"


def test_style_writes_the_same_picture_locally_and_from_the_server_and_other_recipes_refuse_it(zoo, triton, tmp_path):
    local = runner.invoke(app, ["style", "--local", str(zoo / "balloons_petsgan"), "--image", str(CONTENT), "--out", str(tmp_path / "local.png")])
    assert local.exit_code == 0, local.output
    served = runner.invoke(app, ["style", "--server", triton.settings.grpc_url, "--model", "balloons_petsgan", "--image", str(CONTENT),
                                 "--out", str(tmp_path / "served.png")])
    assert served.exit_code == 0, served.output
    a, b = np.asarray(Image.open(tmp_path / "local.png")), np.asarray(Image.open(tmp_path / "served.png"))
    expected = execute(artifact.load(zoo / "balloons_petsgan").executor(), Request("style", image=load_rgb(CONTENT)))[0]
    assert np.array_equal(a, expected) and np.abs(a.astype(int) - b.astype(int)).max() <= 1
    refused = runner.invoke(app, ["style", "--local", str(zoo / "balloons_consingan"), "--image", str(CONTENT), "--out", str(tmp_path / "c.png")])
    assert refused.exit_code != 0 and "does not answer style requests" in refused.output and not (tmp_path / "c.png").exists()


def test_a_batch_job_of_style_items_makes_what_the_model_makes_in_process(zoo, triton, tmp_path):
    shutil.copy(CONTENT, tmp_path / "content.png")
    job = {"output": "out", "tasks": [{"model": "balloons_petsgan", "mode": "style", "count": 2, "image": "content.png", "height": 40, "width": [40, 56]}]}
    (tmp_path / "job.yaml").write_text(yaml.safe_dump(job))
    result = runner.invoke(app, ["batch", str(tmp_path / "job.yaml"), "--server", triton.settings.grpc_url])
    assert result.exit_code == 0, result.output
    lines = [json.loads(text) for text in (tmp_path / "out" / "manifest.jsonl").read_text().splitlines()]
    assert len(lines) == 2
    executor = artifact.load(zoo / "balloons_petsgan").executor()
    for line in lines:
        made = np.asarray(Image.open(tmp_path / "out" / line["file"]))
        expected = execute(executor, Request("style", image=load_rgb(CONTENT), height=made.shape[0], width=made.shape[1]))[0]
        assert made.shape[:2] in ((40, 40), (40, 56)) and np.abs(made.astype(int) - expected.astype(int)).max() <= 1
