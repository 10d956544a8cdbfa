"""Running a train-many plan: from the files alone, so a re-run continues and never repeats work.

The output root holds ``job.json`` (the settings and naming that made it: a changed job is
refused), ``manifest.jsonl`` (one line per image outcome, appended and fsynced) and one artifact
folder per image. Before anything runs, each folder's state is read: finished (skipped), partial
(resumed from its checkpoints) or new; an image whose file changed since its run began is refused.
One train-many at a time may write an output root (a lock file, released by the kernel on a kill).
"""

from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

from sigctl.artifact import files
from sigctl.cluster.jobfile import Item, Plan, job_record, refuse_changed_job
from sigctl.cluster.worker import DONE, FAILED, RUN_INFO, run_state
from sigctl.errors import SettingsError

JOB_RECORD = "job.json"
MANIFEST = "manifest.jsonl"
LOCK = "train-many.lock"


@dataclass(frozen=True)
class Planned:
    item: Item
    state: str  # done, partial or new
    position: Optional[dict[str, int]]  # where a partial run's last checkpoint stands


class Observer(Protocol):
    def started(self, item_id: str) -> None: ...
    def finished(self, outcome: dict[str, Any]) -> None: ...


def survey(plan: Plan) -> list[Planned]:
    """Each item's state, read from its folder; SettingsError if an image changed since its run began."""
    planned, changed = [], []
    for item in plan.items:
        run = plan.output / item.id
        state, position = run_state(run)
        recorded = _recorded_image_sha(run, state)
        if recorded is not None and recorded != item.image_sha256:
            changed.append(item.id)
        planned.append(Planned(item, state, position))
    if changed:
        raise SettingsError(
            f"{len(changed)} image(s) changed since their runs began ({', '.join(changed[:5])}{' ...' if len(changed) > 5 else ''}); "
            f"restore them, or give the job another output folder"
        )
    return planned


def _recorded_image_sha(run: Path, state: str) -> Optional[str]:
    path = run / (files.MANIFEST if state == DONE else f"{files.CHECKPOINTS}/{RUN_INFO}")
    if state == "new":
        return None
    try:
        values = json.loads(path.read_text())
        return values["image"]["source_sha256"] if state == DONE else values["source_sha256"]
    except (OSError, ValueError, KeyError, TypeError):
        return None  # unreadable: resuming or loading it says what is wrong


def run_plan(plan: Plan, executor, observer: Observer) -> list[dict[str, Any]]:
    """Train every unfinished image; returns this run's outcome lines (finished images are not run)."""
    plan.output.mkdir(parents=True, exist_ok=True)
    with _locked(plan.output):
        _check_job_record(plan)
        planned = survey(plan)
        manifest = plan.output / MANIFEST
        recorded = {line.get("id") for line in files.read_json_lines(manifest) if line.get("status") in (DONE, "trained")}
        for entry in planned:
            # Finished, but its line was lost (killed between the artifact and the line): record it now.
            if entry.state == DONE and entry.item.id not in recorded:
                append_line(manifest, _line(plan, entry.item, {"status": DONE, "error": None, "resumed_from": None}))
        todo = [entry.item for entry in planned if entry.state != DONE]
        by_id = {item.id: item for item in todo}
        outcomes = []

        def finished(outcome: dict[str, Any]) -> None:
            line = _line(plan, by_id[outcome["id"]], outcome)
            append_line(manifest, line)
            outcomes.append(line)
            observer.finished(line)

        tasks = [{"item_id": item.id, "image": item.image, "run_dir": str(plan.output / item.id), "settings": plan.settings} for item in todo]
        if tasks:
            executor.run(tasks, observer.started, finished)
        return outcomes


def _line(plan: Plan, item: Item, outcome: dict[str, Any]) -> dict[str, Any]:
    return {**outcome, "id": item.id, "image": item.image, "image_sha256": item.image_sha256, "run": item.id,
            "time": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")}


def _check_job_record(plan: Plan) -> None:
    path = plan.output / JOB_RECORD
    if path.exists():
        try:
            recorded = json.loads(path.read_text())
        except (ValueError, UnicodeDecodeError):
            raise SettingsError(f"{path} is damaged; it records the job that made {plan.output}: restore it or use another output") from None
        refuse_changed_job(recorded, plan, path)
    elif any(entry.name not in (LOCK,) for entry in plan.output.iterdir()):
        raise SettingsError(f"{plan.output} is not empty and holds no {JOB_RECORD}: it is not a train-many output; choose another output")
    else:
        files.write_json_atomic(path, job_record(plan))


def append_line(path: Path, line: dict[str, Any]) -> None:
    with open(path, "a") as stream:
        stream.write(json.dumps(line, sort_keys=True) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


@contextmanager
def _locked(output: Path) -> Iterator[None]:
    with open(output / LOCK, "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SettingsError(f"another sigctl train-many is writing {output}; wait for it to end") from None
        yield


def failed(outcomes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in outcomes if line["status"] == FAILED]
