"""The HTML report opens from disk: one file, images inline, nothing loaded from anywhere."""

import base64
import io
from html.parser import HTMLParser

import numpy as np
from PIL import Image

from sigctl.evaluation.folders import evaluate_folder
from sigctl.evaluation.html_report import render
from sigctl.evaluation.runs import evaluate_run

from ..conftest import BALLOONS


class Collector(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def parse(page: str) -> list[tuple[str, dict]]:
    collector = Collector()
    collector.feed(page)
    return collector.tags


def test_a_run_report_holds_its_images_inline_and_draws_every_loss(tiny_run):
    evaluation = evaluate_run(tiny_run, num=3)
    page = render(evaluation)
    tags = parse(page)
    images = [attrs["src"] for tag, attrs in tags if tag == "img"]
    assert len(images) == 3  # the real image, the copy map, the sample grid
    for source in images:
        assert source.startswith("data:image/png;base64,")
        Image.open(io.BytesIO(base64.b64decode(source.split(",", 1)[1]))).verify()
    real = Image.open(io.BytesIO(base64.b64decode(images[0].split(",", 1)[1])))
    assert np.array_equal(np.asarray(real.convert("RGB")), evaluation.real)
    # Nothing refers outside the page; the policy forbids loading anything but data: images.
    assert not any(key in attrs for tag, attrs in tags for key in ("href",)) and "http" not in page.replace("http-equiv", "")
    policy = [attrs["content"] for tag, attrs in tags if tag == "meta" and attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy == ["default-src 'none'; img-src data:; style-src 'unsafe-inline'"]
    loss_names = [key for key in evaluation.loss_log[0] if key not in ("stage", "iteration")]
    assert sum(tag == "polyline" for tag, _ in tags) == len(loss_names) == 5
    assert "copy share" in page and "memorisation" in page


def test_user_text_is_escaped(tmp_path):
    folder = tmp_path / "<img src=x onerror=alert(1)>"
    folder.mkdir()
    real = np.asarray(Image.open(BALLOONS).convert("RGB"))
    for index in range(2):
        Image.fromarray(np.roll(real, 40 * index, axis=1)).save(folder / f"s{index}.png")
    page = render(evaluate_folder(BALLOONS, folder, use_inception=False))
    assert "<img src=x" not in page and "&lt;img src=x onerror=alert(1)&gt;" in page
    assert not any("onerror" in attrs for _, attrs in parse(page))
