"""PetsGAN's training rules: the phases and what each trains, the hinge loss without a gradient
penalty (values by hand), the sizes the restoration is trained to, and resume inside every phase."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from sigctl import artifact
from sigctl.artifact import files
from sigctl.config import load_settings
from sigctl.errors import SettingsError
from sigctl.training import losses
from sigctl.training.checkpoints import load_checkpoint
from sigctl.training.loop import prepare_reference, resume, train, training_context
from sigctl.training.recipes import make_recipe
from sigctl.training.recipes.petsgan import PHASES

from ..conftest import BALLOONS, IMAGES
from .interrupt import Interrupt

SETTINGS = {"recipe": "petsgan", "optimizer": {"iterations_per_phase": 6}, "checkpoint_interval_seconds": 0}


def make(overrides=None, image=BALLOONS):
    settings = load_settings("tiny", overrides={**SETTINGS, **(overrides or {})})
    reference, info = prepare_reference(image, settings)
    layout = settings.plan_pyramid(info.source_height, info.source_width)
    return make_recipe(training_context(settings, reference, layout, torch.device("cpu")))


class Identity(nn.Module):
    def forward(self, x):
        return x


def test_hinge_loss_by_hand_and_without_a_gradient_penalty():
    hinge = losses.Hinge()
    real = torch.tensor([[[[0.5, 2.0, -1.0]]]]).expand(1, 3, 1, 3)
    fake = torch.tensor([[[[-2.0, 0.3, 0.0]]]]).expand(1, 3, 1, 3)
    d_loss, logged = hinge.discriminator_loss(Identity(), real, fake)
    # mean(relu(1 - [0.5, 2, -1])) = (0.5 + 0 + 2) / 3; mean(relu(1 + [-2, 0.3, 0])) = (0 + 1.3 + 1) / 3.
    # A gradient penalty on this critic would add (sqrt(3) - 1)^2 per pixel: the value would differ.
    torch.testing.assert_close(d_loss, torch.tensor((2.5 + 2.3) / 3), rtol=0, atol=1e-6)
    assert set(logged) == {"d"}
    torch.testing.assert_close(hinge.generator_loss(Identity(), fake), torch.tensor(-(-2.0 + 0.3) / 3), rtol=0, atol=1e-6)


def test_the_collapse_penalty_by_hand_pairs_each_sample_with_the_one_half_a_batch_later():
    scores = torch.tensor([[0.5], [-1.0], [2.0], [-0.5], [9.0]])
    # pairs (0.5, 2.0) and (-1.0, -0.5); the fifth score has no partner: -(1.5 + 0.5) / 2.
    torch.testing.assert_close(losses.collapse_penalty(scores), torch.tensor(-1.0), rtol=0, atol=0)
    torch.testing.assert_close(losses.collapse_penalty(scores[:2]), torch.tensor(-1.5), rtol=0, atol=0)  # the code's output[0], output[1]
    assert losses.collapse_penalty(scores[:1]).item() == 0.0


def _generator_step_gradient(collapse_weight: float) -> dict[str, torch.Tensor]:
    """The generator's gradient from one G update of the generator phase (reconstruction off)."""
    recipe = make({"loss": {"collapse_penalty_weight": collapse_weight, "prior_reconstruction_weight": 0.0}})
    torch.manual_seed(5)  # as the loop seeds a stage: the same networks, prior data and draws in both runs
    recipe.begin_stage(0)
    logged = recipe.step(0)
    grads = {name: p.grad.clone() for name, p in recipe.model.generator.named_parameters()}
    return logged, grads


def test_the_collapse_penalty_reaches_the_generator_with_its_weight():
    plain_logged, plain = _generator_step_gradient(0.0)
    logged, penalised = _generator_step_gradient(3.0)
    assert plain_logged["collapse"].item() == 0.0 and logged["collapse"].item() < 0  # -3 x a distance of two different fakes' scores
    # Same draws, same critic update: the gradients differ by the penalty's own, which is not zero.
    assert any(not torch.equal(plain[name], penalised[name]) for name in plain)
    torch.testing.assert_close(logged["g"], logged["g_adv"] + logged["rec"] + logged["collapse"])
    # Without it the two runs are the same run: the difference above is the penalty's.
    _, again = _generator_step_gradient(0.0)
    assert all(torch.equal(plain[name], again[name]) for name in plain)


def test_the_phases_run_in_the_codes_order_each_training_its_own_networks_with_its_own_losses():
    recipe = make()
    assert PHASES == ("generator", "restoration", "joint", "upsampler") and recipe.num_stages() == 4
    logged_keys = []
    for phase in range(4):
        before = {name: value.clone() for name, value in recipe.model.state_dict().items()} if phase else None
        recipe.begin_stage(phase)
        if phase == 0:
            before = {name: value.clone() for name, value in recipe.model.state_dict().items()}
        logged_keys.append(set(recipe.step(0)))
        changed = {name.split(".")[0] for name, value in recipe.model.state_dict().items() if not torch.equal(value, before[name])}
        assert changed == [{"generator"}, {"restoration"}, {"generator", "restoration"}, {"upsampler"}][phase], PHASES[phase]
        recipe.end_stage()
    # The generator phase: WGAN-GP, the reconstruction and the collapse penalty; the restoration
    # phase: its L1 alone; the joint phase: hinge (no "gp" logged: none is computed) and the
    # restoration L1; the upsampler: its L1 alone.
    assert logged_keys == [{"d", "gp", "g", "g_adv", "rec", "collapse"}, {"restoration"}, {"d", "g", "g_adv", "restoration"}, {"upsampler"}]
    assert recipe.discriminator is None and recipe.prior is None and recipe.upsampler_levels is None  # end_stage keeps nothing of a phase


def test_the_joint_phase_scores_with_the_multi_scale_critic_and_the_hinge_loss():
    recipe = make()
    recipe.begin_stage(0)
    recipe.end_stage()
    recipe.begin_stage(2)
    assert type(recipe.discriminator).__name__ == "MultiScaleDiscriminator"
    assert isinstance(recipe.hinge, losses.Hinge) and recipe.optimizers[1].param_groups[0]["params"] == list(recipe.discriminator.parameters())


@pytest.mark.parametrize("source, fitted", [((186, 248), (184, 248)), ((300, 200), (256, 168)), ((100, 60), (104, 64))])
def test_the_training_size_is_fitted_to_multiples_of_8_and_the_restoration_maps_the_low_resolution_to_it(source, fitted):
    settings = load_settings("paper", overrides={"recipe": "petsgan"})
    assert settings.fit_size(*source) == fitted
    layout = settings.plan_pyramid(*source)
    low = (fitted[0] // 8, fitted[1] // 8)
    assert layout.sizes == (low, low, fitted)
    model = type(make()).untrained_model(settings.model_copy(update={"network": settings.network.model_copy(update={"restoration_channels": 4})}), layout)
    assert model.restoration(torch.zeros(1, 3, *low)).shape[2:] == fitted


def test_the_recipe_restores_to_the_training_image_and_matches_against_its_low_resolution_patches():
    recipe = make()
    low, real = recipe.low_real, recipe.real
    assert real.shape[2:] == (48, 64) and low.shape[2:] == (6, 8)
    assert recipe.model.restoration(low).shape == real.shape
    # 3x3 patches of the 6x8 image and of its mirror.
    assert recipe.model.reference.shape == (2 * 4 * 6, 27)


def test_a_training_size_over_512_is_refused_as_it_would_make_the_transfer_of_a_large_request_too_large():
    with pytest.raises(SettingsError, match=r"size.max_size: Input should be less than or equal to 512"):
        load_settings("paper", overrides={"recipe": "petsgan", "size": {"max_size": 520}})


def test_a_low_resolution_smaller_than_a_patch_is_refused_before_training():
    with pytest.raises(SettingsError, match=r"low-resolution image is 5x6 px.*smaller than the 7x7 px patches.*raise size.max_size to at least 75 "):
        load_settings("tiny", overrides={"recipe": "petsgan", "size": {"max_size": 48}, "network": {"patch_size": 7}}).plan_pyramid(186, 248)
    with pytest.raises(SettingsError, match=r"low-resolution image is 2x1 px.*smaller than the 3x3.*never enlarged"):
        load_settings("tiny", overrides={"recipe": "petsgan"}).plan_pyramid(12, 3)
    settings = load_settings("tiny", overrides={"recipe": "petsgan", "size": {"max_size": 75}, "network": {"patch_size": 7}})
    assert settings.plan_pyramid(186, 248).sizes[0] == (7, 9)  # the size it asks for is enough


@pytest.fixture(scope="module")
def whole(tmp_path_factory):
    run = tmp_path_factory.mktemp("petsgan") / "whole"
    train(BALLOONS, run, load_settings("tiny", overrides={**SETTINGS, "checkpoint_interval_seconds": 1e9}))
    return run


# With its prior data; a fresh restoration phase; after the lr drop; inside the upsampler phase (its crops from torch's stream).
@pytest.mark.parametrize("stage, iteration", [(0, 2), (1, 0), (2, 4), (3, 2)])
def test_interrupted_inside_a_phase_resumes_to_the_same_artifact(tmp_path, whole, stage, iteration):
    killed = tmp_path / "killed"
    with pytest.raises(KeyboardInterrupt):
        train(BALLOONS, killed, load_settings("tiny", overrides=SETTINGS), Interrupt(stage, iteration))
    checkpoint = load_checkpoint(killed)
    assert (checkpoint.completed_stages, checkpoint.stage_iterations_done) == (stage, iteration)
    torch.manual_seed(999)  # the stream a new process would start with is not the one the phase had
    resume(killed)
    a, b = artifact.load(killed), artifact.load(whole)
    assert a.model.model_class == "petsgan"
    sa, sb = a.model.state_dict(), b.model.state_dict()
    assert sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sb)
    assert (killed / files.LOSS_LOG).read_bytes() == (whole / files.LOSS_LOG).read_bytes()
