"""Scoring a trained run: draw samples through the public request path, score them, record them."""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from sigctl.artifact import files
from sigctl.errors import SigctlError
from sigctl.evaluation import limits
from sigctl.evaluation.record import EVAL_FILE, make_record, write_record
from sigctl.metrics import Scores, score_samples

log = logging.getLogger(__name__)

TRAINING_EVAL_SAMPLES = 8  # what training scores its artifact with: seconds at the quick preset
SAMPLING_CHUNK = 8  # images per request, far inside every request limit


@dataclass
class Evaluation:
    """Samples and their scores, with what a report shows beside them."""

    name: str
    real: np.ndarray
    samples: np.ndarray  # N x H x W x 3 uint8
    scores: Scores
    record: dict
    loss_log: list[dict] | None = None  # a run's losses.jsonl, when it has one


def sample_run(run_dir: Path, num: int, seed: int = 0, size: tuple[int, int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(training image, N x H x W x 3 uint8 samples with seeds seed .. seed + num - 1) of a run.

    The training image is checked against the evaluation bounds before any sample is drawn.
    """
    from sigctl import artifact
    from sigctl.core.operations import Request, execute

    loaded = artifact.load(run_dir)
    executor = loaded.executor()
    limits.check_image_size(*executor.reference().shape[:2], f"the training image of {run_dir}")
    height, width = size or (None, None)
    # Chunked requests give the same pixels as one (each sample's noise depends on its seed alone)
    # and keep every request far inside the work budget, whatever --num and --size are.
    chunks = [
        execute(executor, Request(mode="sample", seed=seed + first, num_samples=min(SAMPLING_CHUNK, num - first), height=height, width=width))
        for first in range(0, num, SAMPLING_CHUNK)
    ]
    return executor.reference(), np.concatenate(chunks)


def evaluate_run(run_dir: Path, num: int = 50, seed: int = 0, size: tuple[int, int] | None = None, use_inception: bool | None = None) -> Evaluation:
    """Sample ``num`` images from the run at ``size`` (default: the training size) and score them."""
    run_dir = Path(run_dir)
    limits.check_num(num)
    if size is not None:
        limits.check_image_size(*size, "--size")
    started = time.perf_counter()
    real, samples = sample_run(run_dir, num, seed, size)
    sampling_seconds = time.perf_counter() - started
    scores = score_samples(real, list(samples), use_inception)
    manifest = json.loads((run_dir / files.MANIFEST).read_text())
    source = {"kind": "run", "run": str(run_dir), "recipe": manifest.get("recipe"), "training_seconds": manifest.get("training_seconds")}
    request = {"num_samples": num, "seed": seed, "height": int(samples.shape[1]), "width": int(samples.shape[2])}
    record = make_record(source, request, scores.as_dict(), sampling_seconds)
    return Evaluation(run_dir.name, real, samples, scores, record, read_loss_log(run_dir / files.LOSS_LOG))


def write_eval(run_dir: Path, num: int = TRAINING_EVAL_SAMPLES) -> dict | None:
    """Score a finished artifact with a few samples into ``run_dir/eval.json``; returns the record.

    Training calls this last, so every model carries its own scores. SIFID-style scores are made
    when the Inception weights are installed (the file says when they were not). A model the
    scores cannot measure (a training image over the evaluation bounds: larger than 1024 px or
    1 Mpx, which sampling itself allows) is left unscored with a warning: the finished artifact
    matters more than its report.
    """
    try:
        evaluation = evaluate_run(run_dir, num=num)
    except SigctlError as error:
        log.warning("%s was not scored: %s", run_dir, error)
        return None
    write_record(Path(run_dir) / EVAL_FILE, evaluation.record)
    log.info("scored %s: %s", run_dir, evaluation.scores.summary())
    return evaluation.record


def read_loss_log(path: Path) -> list[dict] | None:
    """The lines of a losses.jsonl that parse as loss entries; None when the file is absent."""
    if not Path(path).exists():
        return None
    entries = []
    for line in Path(path).read_text().splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue  # a torn last line of a killed run is not worth failing a report for
        if isinstance(entry, dict) and "stage" in entry:
            entries.append(entry)
    return entries

