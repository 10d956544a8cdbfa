"""Pictures a person looks at after training: a sample grid and loss curves."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only; never open a window
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sigctl.core.images import save_png  # noqa: E402
from sigctl.core.pixels import make_grid, to_uint8  # noqa: E402
from sigctl.core.in_process import TorchExecutor, sample_images  # noqa: E402
from sigctl.core.models.base import GenerativeModel  # noqa: E402


def write_sample_grid(path: Path, model: GenerativeModel, reference: np.ndarray, num_samples: int) -> None:
    """Reference, reconstruction, then random samples at the training size (seeds 0..n-1)."""
    reconstruction = to_uint8(TorchExecutor(model).reconstruction()[0])
    samples = sample_images(model, num_samples, seed=0)
    save_png(path, make_grid([reference, reconstruction, *samples]))


def write_loss_plot(path: Path, loss_log: list[dict]) -> None:
    """One panel per loss, x = iteration over the whole run, a dotted line where a stage begins."""
    if not loss_log:
        return
    # Every loss any stage logs, in first-seen order (PetsGAN's phases log different losses; a gap where one does not).
    names = list(dict.fromkeys(key for entry in loss_log for key in entry if key not in ("stage", "iteration")))
    stage_starts, position, steps = [], 0, []
    previous_stage = None
    for entry in loss_log:
        if entry["stage"] != previous_stage:
            stage_starts.append(position)
            previous_stage = entry["stage"]
        steps.append(position)
        position += 1
    figure, axes = plt.subplots(len(names), 1, figsize=(8, 2.2 * len(names)), sharex=True)
    for axis, name in zip(np.atleast_1d(axes), names):
        axis.plot(steps, [entry.get(name, np.nan) for entry in loss_log], linewidth=0.8)
        axis.set_ylabel(name)
        for start in stage_starts:
            axis.axvline(start, color="grey", linestyle=":", linewidth=0.6)
    np.atleast_1d(axes)[-1].set_xlabel("logged step (dotted lines: a new scale begins)")
    figure.suptitle("training losses")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=90)
    plt.close(figure)
