"""A one-page HTML report of an evaluation that opens from disk: every image is an inline data: URI.

The page loads nothing: its Content-Security-Policy allows images from data: URIs and inline
styles only, so it shows the same offline, from an e-mail attachment or a CI artifact.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np
from PIL import Image

from sigctl.artifact import files
from sigctl.core.pixels import make_grid
from sigctl.evaluation.charts import loss_charts_svg
from sigctl.evaluation.record import score_rows
from sigctl.evaluation.runs import Evaluation
from sigctl.metrics import HOW_TO_READ, find_copies

GRID_SAMPLES = 16
FIGURE_SIDE = 256  # px on screen that a small real image or copy map is enlarged to
COPY_TINT = np.array([230, 30, 30], np.float32)

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 24px auto; max-width: 1000px; color: #222; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 17px; margin-top: 28px; }
.meta { color: #666; font-size: 13px; } .read { background: #f3f6fa; padding: 10px 14px; border-radius: 4px; }
table { border-collapse: collapse; } td, th { padding: 4px 12px; border-bottom: 1px solid #e4e4e4; text-align: left; }
td.value { font-variant-numeric: tabular-nums; text-align: right; }
img.pixels { image-rendering: pixelated; border: 1px solid #ddd; }
.row { display: flex; gap: 24px; flex-wrap: wrap; align-items: flex-start; } figure { margin: 0; }
figcaption { font-size: 13px; color: #555; margin-top: 4px; max-width: 480px; }
"""


def png_data_uri(rgb: np.ndarray) -> str:
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).save(buffer, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def copy_map(real: np.ndarray, sample: np.ndarray) -> tuple[np.ndarray, float]:
    """The sample with its copied regions tinted red, and its copy share."""
    finding = find_copies(real, sample)
    covered = np.zeros(sample.shape[:2], bool)
    half = (sample.shape[0] - finding.copied.shape[0]) // 2  # patch positions stand for their patch centres
    covered[half : half + finding.copied.shape[0], half : half + finding.copied.shape[1]] = finding.copied
    tinted = sample.astype(np.float32)
    tinted[covered] = 0.45 * tinted[covered] + 0.55 * COPY_TINT
    return tinted.astype(np.uint8), finding.share


def render(evaluation: Evaluation) -> str:
    """The whole page as one HTML string."""
    record, scores = evaluation.record, evaluation.scores
    source = record["source"]
    title = f"sigctl eval: {evaluation.name}"
    if source["kind"] == "run":
        where = f"run {source['run']} (recipe {source.get('recipe')}, trained in {source.get('training_seconds')} s)"
    else:
        where = f"samples in {source['samples']} against {source['real']}"
    shown = evaluation.samples[:GRID_SAMPLES]
    most_copied = int(np.argmax([s.copy_share for s in scores.per_sample]))
    tinted, share = copy_map(evaluation.real, evaluation.samples[most_copied])
    rows = "".join(f"<tr><th>{html.escape(name)}</th><td class='value'>{html.escape(value)}</td></tr>" for name, value in score_rows(scores.summary()))
    notes = "".join(f"<li>{html.escape(note)}</li>" for note in scores.notes)
    parts = [
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>",
        "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; img-src data:; style-src 'unsafe-inline'\">",
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f"<p class='meta'>{html.escape(where)}; {scores.num_samples} samples of {scores.height}x{scores.width}; "
        f"{_sampling(record)}scored in {scores.seconds:.1f} s by sigctl {html.escape(str(record['sigctl_version']))} at {html.escape(record['created_at'])}</p>",
        "<h2>Scores</h2>",
        f"<table>{rows}</table>",
        f"<p class='read'>{html.escape(HOW_TO_READ)}</p>",
        f"<ul class='meta'>{notes}</ul>" if notes else "",
        "<div class='row'>",
        _figure(evaluation.real, "the real image (training image)"),
        _figure(tinted, _copy_caption(most_copied, share)),
        "</div>",
        f"<h2>Samples ({len(shown)} of {scores.num_samples})</h2>",
        f"<img class='pixels' alt='sample grid' src='{png_data_uri(make_grid(list(shown)))}'>",
    ]
    charts = loss_charts_svg(evaluation.loss_log or [])
    if charts:
        parts.append(f"<h2>Training losses ({files.LOSS_LOG}; dotted lines: a new scale begins)</h2>")
        parts.extend(f"<div>{svg}</div>" for _, svg in charts)
    parts.append("</body></html>")
    return "\n".join(part for part in parts if part)


def _copy_caption(index: int, share: float) -> str:
    if share == 0:
        return f"sample {index + 1}: no sample holds a region copied verbatim from the real image (copy share 0)"
    return f"sample {index + 1}, the most copied: red marks the regions pasted verbatim from the real image (copy share {share:.2f})"


def _sampling(record: dict) -> str:
    seconds = record.get("sampling_seconds")
    return "" if seconds is None else f"sampled in {seconds:.1f} s, "


def _figure(rgb: np.ndarray, caption: str) -> str:
    height, width = rgb.shape[:2]
    zoom = max(1, FIGURE_SIDE // max(height, width))  # small images enlarged by whole pixels, so they stay honest
    return (
        f"<figure><img class='pixels' alt='{html.escape(caption)}' width='{width * zoom}' height='{height * zoom}' src='{png_data_uri(rgb)}'>"
        f"<figcaption>{html.escape(caption)}</figcaption></figure>"
    )


def write_html_report(path: Path, evaluation: Evaluation) -> None:
    page = render(evaluation)
    files.write_atomic(Path(path), lambda temporary: temporary.write_text(page, encoding="utf-8"))
