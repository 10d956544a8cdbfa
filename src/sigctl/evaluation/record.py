"""The evaluation record (``eval.json``): what was scored, how, and the scores; read and shown.

Light: ``sigctl info`` and the exporter read records without scoring anything or loading a network.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import sigctl
from sigctl.artifact import files
from sigctl.errors import ArtifactError

EVAL_FILE = "eval.json"  # beside the artifact (written when training ends) and in every `sigctl eval` output
RECORD_VERSION = 1


def make_record(source: dict, request: dict, scores: dict, sampling_seconds: float | None) -> dict:
    """The JSON-ready record: ``source`` says what was scored, ``request`` how samples were drawn."""
    return {
        "record_version": RECORD_VERSION,
        "sigctl_version": sigctl.__version__,
        "created_at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "source": source,
        "request": request,
        "sampling_seconds": None if sampling_seconds is None else round(sampling_seconds, 3),
        "scores": scores,
    }


def write_record(path: Path, record: dict) -> None:
    files.write_json_atomic(Path(path), record)


def read_run_scores(run_dir: Path) -> dict | None:
    """The headline scores a run carries in ``eval.json`` (per-sample lists dropped), or None without one."""
    path = Path(run_dir) / EVAL_FILE
    if not path.exists():
        return None
    try:
        record = json.loads(path.read_text())
        scores = dict(record["scores"])
    except (ValueError, UnicodeDecodeError, KeyError, TypeError) as error:
        raise ArtifactError(f"{path} is damaged ({type(error).__name__}: {error}); delete it or score the run again with 'sigctl eval'") from None
    scores.pop("per_sample", None)
    return scores


def scores_parameter(run_dir: Path) -> str:
    """The run's headline scores as the JSON string a served config publishes (``null`` without any)."""
    return json.dumps(read_run_scores(run_dir))


def score_rows(scores: dict) -> list[tuple[str, str]]:
    """(name, value) rows for a table, in the order people read them."""
    levels = scores.get("swd_levels") or []
    return [
        ("samples", f"{scores.get('num_samples')} at {scores.get('height')}x{scores.get('width')}"),
        ("patch SWD x100 (mean)", _number(scores.get("swd_mean"))),
        ("patch SWD x100 (full, /2, /4)", ", ".join(_number(level) for level in levels)),
        ("SIFID-style, 64 channels", _number(scores.get("sifid_64"))),
        ("SIFID-style, 192 channels", _number(scores.get("sifid_192"))),
        ("pixel diversity", _number(scores.get("pixel_diversity"))),
        ("copy share", _number(scores.get("copy_share"))),
    ]


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"
