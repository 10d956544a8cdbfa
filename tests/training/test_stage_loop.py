"""The loop contract, on a toy recipe: checkpoints inside a stage at the interval, a resume from one
that equals an uninterrupted run bit for bit, clear errors for a damaged one, one sync per log window."""

from __future__ import annotations

import json

import pytest
import torch

from sigctl.artifact import files
from sigctl.errors import RunStateError
from sigctl.training.checkpoints import load_checkpoint
from sigctl.training.stage_loop import TrainingObserver, run_stages

from .interrupt import Interrupt
from .toy_recipe import ReadRecordingTensor, ToyRecipe, toy_context

SEED = 3




def run(run_dir, interval=0.0, observer=None, iterations=300, resume=False, **kwargs):
    recipe = ToyRecipe(toy_context(iterations))
    checkpoint = load_checkpoint(run_dir) if resume else None
    result = run_stages(recipe, run_dir, checkpoint, observer or TrainingObserver(), seed=SEED, checkpoint_interval_seconds=interval, **kwargs)
    return recipe, result


def same_state(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    recipe, result = run(tmp_path_factory.mktemp("whole"), interval=1e9)
    return recipe.model.state_dict(), result.loss_log


# -- when checkpoints are written ------------------------------------------------------------------

class OneSecondPerIteration(TrainingObserver):
    """A fake clock that an iteration advances by 1 s; records every checkpoint and what is on disk then."""

    def __init__(self, run_dir):
        self.now, self.run_dir, self.saved, self.on_disk = 0.0, run_dir, [], []

    def step(self, stage, iteration):
        self.now += 1.0

    def checkpoint_saved(self, completed_stages, stage_iterations_done):
        self.saved.append((completed_stages, stage_iterations_done))
        self.on_disk.append(sorted(p.name for p in (self.run_dir / files.CHECKPOINTS).iterdir()))


@pytest.mark.parametrize(
    "interval, every",
    [(0.0, 3), (10.0, 12), (1e9, None)],  # windows of 3 iterations: at each, at the first after 10 s, never
)
def test_checkpoints_inside_a_stage_come_at_the_first_window_after_the_interval(tmp_path, interval, every):
    clock = OneSecondPerIteration(tmp_path)
    run(tmp_path, interval, clock, clock=lambda: clock.now)
    inside = [] if every is None else list(range(every, 300, every))
    assert clock.saved == [(0, i) for i in inside] + [(1, 0)] + [(1, i) for i in inside] + [(2, 0)]
    for (stage, done), names in zip(clock.saved, clock.on_disk):
        tensors = f"stage_{stage:03d}.safetensors" if done == 0 else f"stage_{stage:03d}_iteration_{done:06d}.safetensors"
        assert names == [tensors, "state.json"]  # the last checkpoint only, each older file removed


def test_the_checkpoint_interval_defaults_to_five_minutes():
    from sigctl.config import ConSinGANSettings, SinGANSettings

    assert SinGANSettings().checkpoint_interval_seconds == ConSinGANSettings().checkpoint_interval_seconds == 300


# -- resuming ----------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "stage, iteration",
    [(0, 40), (0, 200), (1, 1), (1, 160)],  # before and after the lr drop at 150; just after a stage boundary
)
def test_a_run_interrupted_inside_a_stage_resumes_to_the_uninterrupted_result(tmp_path, uninterrupted, stage, iteration):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 0.0, Interrupt(stage, iteration))
    checkpoint = load_checkpoint(tmp_path)
    # The last window boundary before the interruption (windows of 3 iterations).
    assert (checkpoint.completed_stages, checkpoint.stage_iterations_done) == (stage, iteration // 3 * 3)
    torch.manual_seed(12345)  # whatever the stream was left at: the resume must not depend on it
    recipe, result = run(tmp_path, 0.0, resume=True)
    model, loss_log = uninterrupted
    assert same_state(recipe.model.state_dict(), model)
    assert result.loss_log == loss_log  # floats compared exactly


def test_resuming_twice_from_the_same_checkpoint_gives_the_same_result(tmp_path, uninterrupted):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 0.0, Interrupt(0, 100))
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 1e9, Interrupt(1, 50), resume=True)  # no new checkpoint inside stage 1: back to (1, 0)
    assert load_checkpoint(tmp_path).stage_iterations_done == 0
    recipe, result = run(tmp_path, 1e9, resume=True)
    assert same_state(recipe.model.state_dict(), uninterrupted[0]) and result.loss_log == uninterrupted[1]


def test_a_run_stopped_after_its_last_checkpoint_resumes_to_nothing_more_to_train(tmp_path, uninterrupted):
    class AfterTheLastStage(TrainingObserver):
        def stage_finished(self, stage):
            if stage == 1:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 1e9, AfterTheLastStage())
    steps = []

    class Steps(TrainingObserver):
        def step(self, stage, iteration):
            steps.append((stage, iteration))

    recipe, result = run(tmp_path, 1e9, Steps(), resume=True)
    assert steps == [] and same_state(recipe.model.state_dict(), uninterrupted[0]) and result.loss_log == uninterrupted[1]


# -- damaged checkpoints -------------------------------------------------------------------------------

def flip_a_byte(folder, state):
    path = folder / state["tensors"]
    data = bytearray(path.read_bytes())
    data[-5] ^= 0xFF
    path.write_bytes(bytes(data))


def rename_a_tensor(folder, state):
    text = json.dumps(state).replace('"stage.optimizer.state.0.exp_avg"', '"stage.optimizer.state.0.nothing"', 1)
    (folder / "state.json").write_text(text)


def swap_two_tensors(folder, state):
    # Both exist, so the file reads; but a 3x3x1x1 weight cannot be loaded as a bias of 3.
    text = json.dumps(state).replace('"stage.layer.weight"', '"TMP"').replace('"stage.layer.bias"', '"stage.layer.weight"').replace('"TMP"', '"stage.layer.bias"')
    (folder / "state.json").write_text(text)


DAMAGE = {
    "a flipped byte": (flip_a_byte, "does not match its checksum"),
    "a truncated state.json": (lambda folder, state: (folder / "state.json").write_text(json.dumps(state)[:200]), "unreadable"),
    "a missing tensor file": (lambda folder, state: (folder / state["tensors"]).unlink(), "unreadable"),
    "a name the tensor file lacks": (rename_a_tensor, "names a tensor 'stage.optimizer.state.0.nothing'"),
    "tensors of the wrong shape": (swap_two_tensors, "does not fit this run"),
    "a position past the end": (lambda folder, state: (folder / "state.json").write_text(json.dumps({**state, "stage_iterations_done": 300})), "past this run's end"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_damaged_checkpoint_inside_a_stage_is_refused_with_a_clear_error(tmp_path, damage):
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, 0.0, Interrupt(1, 50))
    folder = tmp_path / files.CHECKPOINTS
    state = json.loads((folder / "state.json").read_text())
    assert state["tensors"] == "stage_001_iteration_000048.safetensors"
    corrupt, message = DAMAGE[damage]
    corrupt(folder, state)
    with pytest.raises(RunStateError, match=message) as error:
        run(tmp_path, 0.0, resume=True)
    assert str(folder) in str(error.value) and "restart training" in str(error.value)


# -- one device sync per log window ----------------------------------------------------------------------

def test_the_loop_reads_losses_back_once_per_log_window(tmp_path, monkeypatch):
    monkeypatch.setattr(ToyRecipe, "record_reads", True)
    monkeypatch.setattr(ReadRecordingTensor, "reads", [])
    seen = []

    class Windows(TrainingObserver):
        def window_closed(self, stage, iteration, losses):
            seen.append((stage, iteration, losses))

    _, result = run(tmp_path, 1e9, Windows(), iterations=301)  # windows of 3, and a last one of 1
    closes = [(stage, i) for stage in (0, 1) for i in [*range(2, 301, 3), 300]]
    assert ReadRecordingTensor.reads == closes  # one read, at each window's last iteration, nowhere else
    assert [(stage, i) for stage, i, _ in seen] == closes
    assert all(type(v) is float for _, _, losses in seen for v in losses.values())
    assert result.loss_log[-1]["lr"] == pytest.approx(0.005)  # the lone last iteration, after the drop
