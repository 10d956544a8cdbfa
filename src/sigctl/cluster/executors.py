"""Where images train: child processes on this machine, or Ray core tasks on a cluster.

Both run ``sigctl.cluster.worker.train_item`` once per image and retry it only when the worker
itself is lost (a killed process, a lost Ray node): the retry finds the checkpoints the lost one
wrote and resumes from them. A failure inside training is an outcome, not retried.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from typing import Any

from sigctl.cluster.worker import FAILED, train_item
from sigctl.errors import SettingsError

log = logging.getLogger(__name__)

Task = dict[str, Any]  # train_item's keyword arguments: item_id, image, run_dir, settings
Started = Callable[[str], None]
Finished = Callable[[dict[str, Any]], None]
_PR_SET_PDEATHSIG = 1


def lost_outcome(task: Task, reason: str) -> dict[str, Any]:
    return {"id": task["item_id"], "image": task["image"], "status": FAILED, "resumed_from": None, "worker": None,
            "seconds": None, "error": reason}


class LocalExecutor:
    """``parallel`` images at a time, each in a fresh child process with cores / parallel torch threads."""

    name = "local"

    def __init__(self, parallel: int = 1, retries: int = 2):
        if parallel < 1:
            raise SettingsError(f"--parallel must be at least 1, got {parallel}")
        self.parallel, self.retries = parallel, retries
        self.threads = max(1, (os.cpu_count() or 1) // parallel)
        self._stop = threading.Event()
        self._active: set = set()  # child processes training now

    def run(self, tasks: list[Task], started: Started, finished: Finished) -> None:
        pool = ThreadPoolExecutor(self.parallel, thread_name_prefix="train-many")
        try:
            for future in as_completed([pool.submit(self._one, task, started) for task in tasks]):
                finished(future.result())
        except KeyboardInterrupt:
            # Nothing new starts and nothing is retried; the children (which ignore the terminal's
            # Ctrl-C, so none is mistaken for a lost worker first) end, keeping their last checkpoint.
            self._stop.set()
            for process in list(self._active):
                process.kill()
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)

    def _one(self, task: Task, started: Started) -> dict[str, Any]:
        reason = "not started"
        for attempt in range(1, self.retries + 2):
            if self._stop.is_set():
                return lost_outcome(task, "interrupted")
            started(task["item_id"])
            context = multiprocessing.get_context("spawn")  # a fresh interpreter: no forked torch threads
            receive, send = context.Pipe(duplex=False)
            process = context.Process(target=_child, args=(send, task, self.threads), daemon=True)
            process.start()
            self._active.add(process)
            if self._stop.is_set():  # a Ctrl-C between the check above and here
                process.kill()
            send.close()
            try:
                outcome = receive.recv()
            except EOFError:
                outcome = None
            process.join()
            self._active.discard(process)
            receive.close()
            if outcome is not None:
                return {**outcome, "attempts": attempt}
            reason = f"its worker process {process.pid} was lost (exit code {process.exitcode})"
            log.warning("%s: %s; attempt %d of %d", task["item_id"], reason, attempt, self.retries + 1)
        return {**lost_outcome(task, reason), "attempts": self.retries + 1}


def _child(send, task: Task, threads: int) -> None:
    # Die with the parent (a SIGKILLed train-many must not leave trainers writing into its output).
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() == 1:
        os._exit(1)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what a Ctrl-C ends
    send.send(train_item(**task, threads=threads))
    send.close()


class RayExecutor:
    """One Ray core task per image; Ray retries a task whose worker or node is lost (``retries`` times)."""

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_task: float = 0.0, cpus_per_task: int = 1, retries: int = 3):
        if gpus_per_task < 0 or cpus_per_task < 1:
            raise SettingsError(f"--gpus-per-task must be >= 0 and CPUs per task >= 1 (got {gpus_per_task}, {cpus_per_task})")
        try:
            import ray
        except ImportError:
            raise SettingsError("--executor ray needs Ray: pip install 'sigctl[cluster]'") from None
        self.ray = ray
        self.address, self.gpus, self.cpus, self.retries = address, gpus_per_task, cpus_per_task, retries

    def run(self, tasks: list[Task], started: Started, finished: Finished) -> None:
        ray = self.ray
        owned = not ray.is_initialized()
        if owned:
            # No address: a local cluster of this machine's cores (no dashboard: nothing to serve).
            extra = {} if self.address else {"include_dashboard": False}
            ray.init(address=self.address, log_to_driver=False, **extra)
        remote = ray.remote(train_item).options(num_cpus=self.cpus, num_gpus=self.gpus, max_retries=self.retries, retry_exceptions=False)
        pending = {}
        try:
            for task in tasks:
                pending[remote.remote(**task, threads=self.cpus)] = task
                started(task["item_id"])  # queued or running: the cluster decides when
            while pending:
                ready, _ = ray.wait(list(pending), num_returns=1)
                task = pending.pop(ready[0])
                try:
                    outcome = ray.get(ready[0])
                except ray.exceptions.RayError as error:  # retries spent on lost workers, or the task could not run
                    outcome = lost_outcome(task, f"{type(error).__name__}: {str(error).splitlines()[0]}")
                finished(outcome)
        except KeyboardInterrupt:
            for reference in pending:
                ray.cancel(reference, force=True)
            raise
        finally:
            if owned:
                ray.shutdown()
