"""``sigctl eval``: score a trained run, or any folder of samples, as a table, JSON and an HTML report."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from sigctl.cli.common import command, console
from sigctl.cli.running import check_writable_output
from sigctl.errors import SettingsError
from sigctl.evaluation import limits
from sigctl.evaluation.record import EVAL_FILE, score_rows, write_record

REPORT_FILE = "report.html"


@command
def eval_command(
    run: Annotated[Optional[Path], typer.Argument(help="Run directory written by 'sigctl train'.", show_default=False)] = None,
    num: Annotated[Optional[int], typer.Option(help=f"Samples to score ({limits.MIN_SAMPLES}..{limits.MAX_SAMPLES}); default: 50 for a run, every PNG of --samples.", show_default=False)] = None,
    size: Annotated[Optional[str], typer.Option(help="Sample size HEIGHTxWIDTH, e.g. 128x192; default: the training size.", show_default=False)] = None,
    seed: Annotated[int, typer.Option(help="Seed of the first sample; sample i uses seed + i.")] = 0,
    real: Annotated[Optional[Path], typer.Option(help="Real (training) image to score --samples against.", show_default=False)] = None,
    samples: Annotated[Optional[Path], typer.Option(help="Folder of PNG samples (any tool's); grid.png files are skipped.", show_default=False)] = None,
    out: Annotated[Optional[Path], typer.Option("--out", help="Folder for eval.json and report.html; default: out/eval/NAME.", show_default=False)] = None,
    sifid: Annotated[Optional[bool], typer.Option("--sifid/--no-sifid", help="Require (or skip) SIFID-style scores; default: when the Inception weights are installed.", show_default=False)] = None,
    record: Annotated[bool, typer.Option("--record", help="Also store the scores as RUN/eval.json, the ones 'sigctl info' shows and 'sigctl export' publishes.")] = False,
) -> None:
    """Score samples: patch SWD, SIFID-style, pixel diversity and copy share; writes eval.json and report.html."""
    from sigctl.evaluation.html_report import write_html_report

    if (run is None) == (samples is None and real is None):
        raise SettingsError("give a RUN directory, or --real IMAGE with --samples DIR (a folder of PNG samples), not both")
    if run is None and (real is None or samples is None):
        raise SettingsError("--real IMAGE and --samples DIR go together: the samples are scored against the real image")
    if num is not None:
        limits.check_num(num)
    if run is None and size is not None:
        raise SettingsError("--size chooses the size a run samples at; a folder's samples already have theirs")
    if run is None and record:
        raise SettingsError("--record stores a run's scores in the run; a folder of samples has no run to store them in")
    sample_size = limits.parse_size(size) if size is not None else None
    name = (run or samples).resolve().name or "eval"
    out = out or Path("out") / "eval" / name
    check_writable_output(out, "--out", folder=True)
    started = time.perf_counter()
    if run is not None:
        from sigctl.evaluation.runs import evaluate_run

        evaluation = evaluate_run(run, num=num or 50, seed=seed, size=sample_size, use_inception=sifid)
    else:
        from sigctl.evaluation.folders import evaluate_folder

        evaluation = evaluate_folder(real, samples, num=num, use_inception=sifid)
    out.mkdir(parents=True, exist_ok=True)
    write_record(out / EVAL_FILE, evaluation.record)
    write_html_report(out / REPORT_FILE, evaluation)
    if record:
        write_record(run / EVAL_FILE, evaluation.record)
    _print_scores(evaluation.scores.summary())
    console.print(f"scored in {time.perf_counter() - started:.1f} s -> {out / EVAL_FILE}, {out / REPORT_FILE}", soft_wrap=True)


def _print_scores(summary: dict) -> None:
    table = Table("score", "value")
    for name, value in score_rows(summary):
        table.add_row(name, value)
    console.print(table)
    for note in summary.get("notes", []):
        console.print(f"note: {note}", soft_wrap=True, highlight=False, markup=False)


def print_run_scores(run: Path) -> None:
    """The scores a run carries (eval.json, written when training ended), for ``sigctl info``."""
    from sigctl.evaluation.record import read_run_scores

    scores = read_run_scores(run)
    if scores is None:
        console.print(f"no scores: {run} has no {EVAL_FILE} (trained before sigctl scored its models); make them with  sigctl eval {run} --record", soft_wrap=True)
        return
    console.print(f"scores ({run / EVAL_FILE}):")
    _print_scores(scores)
