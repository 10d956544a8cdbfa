"""PetsGAN's external prior (``--external-prior``): a small generator the test builds itself (8-d
latent -> 3 x 16 x 16), saved as TorchScript and ONNX; inversion and jitter pinned by hand; the
prior data it makes; the CLI; resume; files that break the signature refused before any work."""

from __future__ import annotations

import io
import json

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from typer.testing import CliRunner

from sigctl import artifact
from sigctl.artifact import files
from sigctl.cli import app
from sigctl.config import load_settings
from sigctl.core.external_generator import ExternalGenerator
from sigctl.core.paths import sha256_of
from sigctl.errors import SettingsError
from sigctl.training.checkpoints import load_checkpoint
from sigctl.training.loop import resume, train
from sigctl.training.petsgan_external import external_prior, invert, inversion_loss, jitters, select_latent, warp_count

from ..conftest import BALLOONS
from .interrupt import Interrupt

LATENT = 8
SMALL = {"select_draws": 16, "inversion_iterations": (10, 10, 5), "jitter_stds": (0.1, 0.5), "jitters_per_std": 3, "generator_batch": 4, "image_copies": 2}


class TinyGenerator(nn.Module):
    """8-d latent -> 3 x 16 x 16 in [-1, 1]: a linear layer to 4 x 4, two x2 upsamplings."""

    def __init__(self, out_side: int = 16, squash: bool = True):
        super().__init__()
        self.linear = nn.Linear(LATENT, 16 * 4 * 4)
        self.body = nn.Sequential(nn.Upsample(size=out_side), nn.Conv2d(16, 3, 3, padding=1))
        self.squash = squash

    def forward(self, latent):
        image = self.body(self.linear(latent).view(-1, 16, 4, 4))
        return torch.tanh(image) if self.squash else image


class NaNGenerator(TinyGenerator):
    def forward(self, latent):
        return super().forward(latent) * float("nan")


def save_torchscript(module: nn.Module, path, declare: bool = True):
    traced = torch.jit.trace(module.eval(), torch.zeros(2, LATENT))
    torch.jit.save(traced, str(path), _extra_files={"latent_dim": str(LATENT)} if declare else {})
    return path


def save_exported(module: nn.Module, path):
    batch = torch.export.Dim("batch", min=1, max=1024)
    torch.export.save(torch.export.export(module.eval(), (torch.zeros(2, LATENT),), dynamic_shapes=({0: batch},)), str(path))
    return path


def write_garbage(path):
    path.write_bytes(b"\x00garbage" * 100)
    return path


def save_onnx(module: nn.Module, path):
    buffer = io.BytesIO()
    torch.onnx.export(module.eval(), (torch.zeros(2, LATENT),), buffer, dynamo=False, input_names=["latent"], output_names=["image"], dynamic_axes={"latent": {0: "batch"}, "image": {0: "batch"}})
    path.write_bytes(buffer.getvalue())
    return path


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    torch.manual_seed(0)
    module = TinyGenerator()
    folder = tmp_path_factory.mktemp("generators")
    return module, save_torchscript(module, folder / "gen.pt"), save_onnx(module, folder / "gen.onnx"), save_exported(module, folder / "gen.pt2")


def external(**values):
    return load_settings("tiny", overrides={"recipe": "petsgan", "external_prior": {**SMALL, **values}}).external_prior


def test_the_file_is_probed_for_its_latent_and_image_sizes(tiny):
    _, script, onnx, exported = tiny
    for path, differentiable in ((script, True), (onnx, False), (exported, True)):
        generator = ExternalGenerator(path)
        assert (generator.shape.latent_dim, generator.shape.height, generator.shape.width, generator.differentiable) == (LATENT, 16, 16, differentiable)
    latents = torch.randn(5, LATENT)
    for other in (onnx, exported):
        torch.testing.assert_close(ExternalGenerator(other).generate(latents), ExternalGenerator(script).generate(latents), rtol=0, atol=1e-5)


@pytest.mark.parametrize("file", [1, 3], ids=["torchscript", "torch.export"])
def test_the_inversion_ends_nearer_the_image_than_the_latent_it_starts_from(tiny, file):
    generator, settings = ExternalGenerator(tiny[file]), external()
    image = torch.rand(1, 3, 40, 56) * 2 - 1
    target = F.interpolate(image, size=(16, 16), mode="bilinear", align_corners=False, antialias=True)
    start = select_latent(generator, target, settings, torch.Generator().manual_seed(3))
    inverted = invert(generator, image, settings, torch.Generator().manual_seed(3))  # the same draws select the same start
    before, after = (inversion_loss(generator, z, target, settings.likelihood_weight).item() for z in (start, inverted))
    assert after < before
    # The selection: no draw of the 16 scores lower than the one it kept.
    draws = settings.select_std * torch.randn(16, LATENT, generator=torch.Generator().manual_seed(3))
    assert inversion_loss(generator, draws, target, settings.likelihood_weight).min().item() == pytest.approx(before, abs=1e-7)


def test_the_inversion_keeps_the_best_latent_it_saw_not_the_last(tiny):
    # A last stage at an absurd learning rate throws the latent far off; the latent kept must still
    # score no worse than where the first two stages left it.
    generator = ExternalGenerator(tiny[1])
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    settings = external(inversion_lrs=(0.1, 0.01, 50.0))
    two_stages = external(inversion_lrs=(0.1, 0.01, 50.0), inversion_iterations=(10, 10, 0))
    kept, after_two = (invert(generator, image, s, torch.Generator().manual_seed(3)) for s in (settings, two_stages))
    losses = [inversion_loss(generator, z, image, settings.likelihood_weight).item() for z in (kept, after_two)]
    assert losses[0] <= losses[1] + 1e-6
    diverged = invert(generator, image, external(inversion_lrs=(50.0, 50.0, 50.0)), torch.Generator().manual_seed(3))
    start = select_latent(generator, image, settings, torch.Generator().manual_seed(3))
    # Even when every step diverges, the kept latent is no worse than the selected start.
    assert inversion_loss(generator, diverged, image, settings.likelihood_weight).item() <= inversion_loss(generator, start, image, settings.likelihood_weight).item() + 1e-6


def test_an_onnx_generator_gets_the_gradient_free_selection_alone(tiny):
    generator, settings = ExternalGenerator(tiny[2]), external()
    image = torch.rand(1, 3, 16, 16) * 2 - 1
    chosen = invert(generator, image, settings, torch.Generator().manual_seed(3))
    assert torch.equal(chosen, select_latent(generator, image, settings, torch.Generator().manual_seed(3)))


def test_the_jitters_are_the_generator_at_the_latent_plus_std_times_the_seeded_draws(tiny):
    module, script = tiny[:2]
    generator, settings = ExternalGenerator(script), external()
    latent = torch.randn(1, LATENT)
    made = jitters(generator, latent, settings, torch.Generator().manual_seed(11))
    rng = torch.Generator().manual_seed(11)
    by_hand = torch.cat([module(latent + std * torch.randn(3, LATENT, generator=rng)) for std in (0.1, 0.5)]).detach()
    assert made.shape == (6, 3, 16, 16)
    torch.testing.assert_close(made, by_hand, rtol=0, atol=1e-6)


def test_the_prior_data_holds_the_jitters_at_the_low_resolution_size_with_mirrors_warps_and_copies(tiny):
    generator, settings = ExternalGenerator(tiny[1]), external()
    low, full = torch.rand(1, 3, 6, 8) * 2 - 1, torch.rand(1, 3, 48, 64) * 2 - 1
    prior = external_prior(low, full, generator, settings, warp_strength=0.1, seed=7)
    rng = torch.Generator().manual_seed(7)
    latent = invert(generator, full, settings, rng)  # consumes the draws the prior's inversion did
    expected = F.interpolate(jitters(generator, latent, settings, rng), size=(6, 8), mode="bilinear", align_corners=False, antialias=True)
    warps = warp_count(12, 0.3)
    assert warps == 5  # int(0.3 / 0.7 x 12): the code's mix_ratio
    assert prior.shape == (12 + warps + 4, 3, 6, 8)
    torch.testing.assert_close(prior[:6], expected, rtol=0, atol=1e-6)
    torch.testing.assert_close(prior[6:12], expected.flip(3), rtol=0, atol=1e-6)
    assert all(torch.equal(prior[i], low[0]) for i in (-4, -3)) and all(torch.equal(prior[i], low[0].flip(2)) for i in (-2, -1))


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda path: write_garbage(path), r"not a TorchScript file torch.jit.load can read"),
        (lambda path: save_torchscript(TinyGenerator(), path, declare=False), r"does not declare its latent size.*latent_dim"),
        (lambda path: save_torchscript(nn.Sequential(nn.Linear(LATENT, 12)), path), r"output of shape \[2, 12\]; the signature is \[B, 3, H, W\]"),
        (lambda path: save_torchscript(NaNGenerator(), path), r"NaN or infinite"),
        (lambda path: save_torchscript(TinyGenerator(squash=False), path), r"span \[.*\]; the signature is \[-1, 1\]"),
        (lambda path: save_torchscript(TinyGenerator(out_side=4), path), r"4x4 px; each side must be 8 to 1024"),
    ],
    ids=["garbage", "no-latent-size", "wrong-shape", "nan", "range", "too-small"],
)
def test_a_file_off_the_signature_is_refused_with_what_is_wrong(tmp_path, make, message):
    torch.manual_seed(0)
    path = make(tmp_path / "gen.pt")
    with pytest.raises(SettingsError, match=rf"external prior generator {path}: .*{message}"):
        external(generator=str(path))


def test_garbage_named_onnx_or_pt2_a_fixed_batch_and_a_missing_file_are_refused(tmp_path):
    (tmp_path / "gen.onnx").write_bytes(b"not a protobuf")
    with pytest.raises(SettingsError, match=r"gen.onnx: onnxruntime cannot load it"):
        external(generator=str(tmp_path / "gen.onnx"))
    (tmp_path / "gen.pt2").write_bytes(b"not a zip")
    with pytest.raises(SettingsError, match=r"gen.pt2: it is not a program torch.export.load can read"):
        external(generator=str(tmp_path / "gen.pt2"))
    torch.export.save(torch.export.export(TinyGenerator().eval(), (torch.zeros(4, LATENT),)), str(tmp_path / "fixed.pt2"))
    with pytest.raises(SettingsError, match=r"fixed.pt2: its batch dimension is fixed to 4; export it with a dynamic batch \(or 1\)"):
        external(generator=str(tmp_path / "fixed.pt2"))
    with pytest.raises(SettingsError, match=r"external prior generator .*nothing.pt does not exist"):
        external(generator=str(tmp_path / "nothing.pt"))
    (tmp_path / "loop_a").symlink_to(tmp_path / "loop_b")
    (tmp_path / "loop_b").symlink_to(tmp_path / "loop_a")
    with pytest.raises(SettingsError, match=r"external prior generator .*loop_a: Symlink loop"):
        external(generator=str(tmp_path / "loop_a"))
    with pytest.raises(SettingsError, match=r"the external prior generator path is empty"):
        external(generator=" ")


def test_the_work_is_bounded_by_the_settings():
    with pytest.raises(SettingsError, match=r"3 stds x 1000 jitters = 3000 images; at most 2000"):
        external(jitter_stds=(0.1, 0.2, 0.3), jitters_per_std=1000)
    with pytest.raises(SettingsError, match=r"inversion iterations must be >= 0 and at most 20000"):
        external(inversion_iterations=(10000, 10000, 1))
    with pytest.raises(SettingsError, match=r"select_draws: Input should be less than or equal to 10000"):
        external(select_draws=10001)


# -- the CLI and the run --------------------------------------------------------------------------------

RUN = {"recipe": "petsgan", "optimizer": {"iterations_per_phase": 4}, "checkpoint_interval_seconds": 0}


def run_settings(generator):
    return load_settings("tiny", overrides={**RUN, "external_prior": {**SMALL, "generator": str(generator)}})


@pytest.mark.slow
def test_train_with_an_external_prior_from_the_cli_records_the_generators_hash(tmp_path, tiny):
    script = tiny[1]
    config = tmp_path / "small.yaml"
    config.write_text(json.dumps({"external_prior": {**SMALL, "inversion_iterations": list(SMALL["inversion_iterations"]), "jitter_stds": list(SMALL["jitter_stds"])}}))
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(BALLOONS), "--recipe", "petsgan", "--preset", "tiny", "--config", str(config), "--iterations", "2", "--external-prior", str(script), "--out", str(run)])
    assert result.exit_code == 0, result.output
    recorded = artifact.load(run).manifest.training["external_prior"]
    assert recorded["generator"] == str(script.resolve()) and recorded["generator_sha256"] == sha256_of(script)
    assert json.loads((run / files.SETTINGS).read_text())["external_prior"]["generator_sha256"] == sha256_of(script)
    assert "collapse" in (run / files.LOSS_LOG).read_text()


def test_the_cli_refuses_a_bad_generator_before_it_creates_the_run(tmp_path):
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(BALLOONS), "--recipe", "petsgan", "--preset", "tiny", "--external-prior", str(bad), "--out", str(run)])
    assert result.exit_code == 2 and "bad.pt: it is not a TorchScript file" in result.output
    assert not run.exists()
    result = CliRunner().invoke(app, ["train", str(BALLOONS), "--preset", "tiny", "--external-prior", str(bad), "--out", str(run)])
    assert result.exit_code == 2 and "--external-prior is PetsGAN's (add --recipe petsgan)" in result.output


@pytest.fixture(scope="module")
def whole(tmp_path_factory, tiny):
    run = tmp_path_factory.mktemp("external") / "whole"
    train(BALLOONS, run, run_settings(tiny[1]).model_copy(update={"checkpoint_interval_seconds": 1e9}))
    return run


@pytest.mark.slow
def test_interrupted_inside_the_generator_phase_resumes_to_the_same_artifact_without_rereading_the_prior(tmp_path, tiny, whole):
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, killed, run_settings(tiny[1]), Interrupt(0, 2))
    checkpoint = load_checkpoint(killed)
    assert (checkpoint.completed_stages, checkpoint.stage_iterations_done) == (0, 2)
    assert checkpoint.recipe_state["stage"]["prior"].shape == (12 + 5 + 4, 3, 6, 8)  # the prior data is in the checkpoint
    torch.manual_seed(999)
    resume(killed)
    a, b = artifact.load(killed).model.state_dict(), artifact.load(whole).model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in b)
    assert (killed / files.LOSS_LOG).read_bytes() == (whole / files.LOSS_LOG).read_bytes()


def test_a_resume_with_the_generator_changed_or_gone_is_refused(tmp_path):
    torch.manual_seed(0)
    generator = save_torchscript(TinyGenerator(), tmp_path / "gen.pt")
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, killed, run_settings(generator), Interrupt(0, 1))
    torch.manual_seed(1)
    save_torchscript(TinyGenerator(), generator)  # other weights, same name
    with pytest.raises(SettingsError, match=r"gen.pt changed since the run started \(sha256 was [0-9a-f]{64}\); put the original file back"):
        resume(killed)
    generator.unlink()
    with pytest.raises(SettingsError, match=r"gen.pt \(sha256 [0-9a-f]{64}\) is missing; put that file back"):
        resume(killed)
