"""Seed 004's recipe: what it changes in ConSinGAN's training, checked against computations made here.

ConSinGAN's rules (stage schedule, lr groups, warm start, amplitudes, reconstruction path,
fine-tuning) run for this recipe too, in test_consingan_rules.py. Here: its defaults, the critic's
decoders (their crop geometry, beta's effect on the D loss, trained on real images only), one
iteration's gradients, and that nothing of the decoders reaches the artifact.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors import safe_open
from typer.testing import CliRunner

from sigctl import artifact
from sigctl.cli import app
from sigctl.config import ConSinGANSettings, InvolutionSettings, load_settings
from sigctl.core.in_process import sample_images
from sigctl.core.models.dilated_involution import InvolutionBlock
from sigctl.core.models.involution import InvolutionModel
from sigctl.export.exporter import export_artifact
from sigctl.serving.runtime import ModelRuntime
from sigctl.training.self_supervised import Box, DecodingDiscriminator, SelfSupervisedWGANGP, crop_boxes

from ..conftest import BALLOONS
from .test_consingan_rules import (
    _gradients_at_step,
    _reconstruction_inputs,
    advance_to,
    assert_gradients,
    make as make_any,
    next_draw,
    penalty_by_hand,
)


def make(overrides: dict | None = None, iterations: int = 10, stages: int = 5):
    """An involution recipe on balloons at the tiny preset, as test_consingan_rules builds its recipes."""
    return make_any({"recipe": "involution", **(overrides or {})}, iterations, stages)


def test_the_defaults_are_consingans_with_500_iterations_dilation_3_layer_padding_and_beta_5():
    s, consingan = InvolutionSettings(), ConSinGANSettings()
    assert s.optimizer.iterations_per_stage == 500 and consingan.optimizer.iterations_per_stage == 2000
    n = s.network
    assert (n.dilation, n.groups, n.reduction, n.padding, n.involution_head_tail, n.kernel_size) == (3, 4, 1, "layer", False, 3)
    assert (s.loss.decoder_weight, s.loss.decoder_loss) == (5.0, "mse")
    # Everything else is ConSinGAN's.
    assert s.stages == consingan.stages
    assert s.optimizer.model_dump(exclude={"iterations_per_stage"}) == consingan.optimizer.model_dump(exclude={"iterations_per_stage"})
    assert s.loss.model_dump(exclude={"decoder_weight", "decoder_loss"}) == consingan.loss.model_dump()
    assert n.model_dump(exclude={"dilation", "groups", "reduction", "padding", "involution_head_tail"}) == consingan.network.model_dump()
    assert load_settings("paper", overrides={"recipe": "involution"}) == s


def test_groups_must_divide_the_channels():
    with pytest.raises(Exception, match="network: Value error, 64 channels cannot be split into 3 involution groups; use a divisor of 64"):
        load_settings("paper", overrides={"recipe": "involution", "network": {"groups": 3}})


def test_the_recipe_trains_its_model_with_the_decoding_critic_and_its_loss():
    recipe = make()
    advance_to(recipe, 1)
    assert isinstance(recipe.model, InvolutionModel) and isinstance(recipe.discriminator, DecodingDiscriminator)
    assert isinstance(recipe.adversarial_loss, SelfSupervisedWGANGP) and recipe.adversarial_loss.decoder_weight == 5.0
    before = copy.deepcopy(recipe.discriminator.whole_decoder.state_dict()), copy.deepcopy(recipe.discriminator.crop_decoder.state_dict())
    logged = recipe.step(0)
    assert "d_rec" in logged
    after = recipe.discriminator.whole_decoder.state_dict(), recipe.discriminator.crop_decoder.state_dict()
    for old, new in zip(before, after):  # both decoders train with the critic
        assert any(not torch.equal(old[key], new[key]) for key in old)


# --- the decoders' crop ----------------------------------------------------------------------------


@pytest.mark.parametrize("height, width", [(25, 34), (40, 61), (16, 21)])
def test_the_crop_is_half_height_by_half_width_and_its_feature_crop_is_the_same_region(height, width):
    border = 4  # head + 3 body convs, unpadded 3x3: the feature map is 4 px smaller per side
    generator = torch.Generator().manual_seed(0)
    tops, lefts = set(), set()
    for _ in range(300):
        image_box, feature_box = crop_boxes(height, width, border, generator)
        assert (image_box.height, image_box.width) == (height // 2, width // 2)
        assert (feature_box.height, feature_box.width) == (image_box.height, image_box.width)
        assert (image_box.top - feature_box.top, image_box.left - feature_box.left) == (border, border)
        assert 0 <= feature_box.top and feature_box.top + feature_box.height <= height - 2 * border
        assert 0 <= feature_box.left and feature_box.left + feature_box.width <= width - 2 * border
        tops.add(image_box.top)
        lefts.add(image_box.left)
    # Every position whose feature crop fits is drawn.
    assert tops == set(range(border, height - border - height // 2 + 1))
    assert lefts == set(range(border, width - border - width // 2 + 1))


def test_the_feature_crop_holds_exactly_the_features_of_the_image_crop():
    # An unpadded critic's feature at (r, c) sees pixels r .. r + 2 border: the feature crop equals
    # the features of the image crop grown by the border, bit for bit.
    torch.manual_seed(1)
    critic = DecodingDiscriminator(channels=8)
    image = torch.randn(1, 3, 30, 41)
    image_box, feature_box = crop_boxes(30, 41, critic.feature_border, torch.Generator().manual_seed(3))
    b = critic.feature_border
    grown = Box(image_box.top - b, image_box.left - b, image_box.height + 2 * b, image_box.width + 2 * b)
    with torch.no_grad():
        torch.testing.assert_close(feature_box.of(critic.features(image)), critic.features(grown.of(image)), rtol=0, atol=1e-6)


def test_on_a_stage_too_small_for_an_inner_crop_the_feature_crop_is_clipped_but_never_empty():
    generator = torch.Generator().manual_seed(0)
    for _ in range(100):
        image_box, feature_box = crop_boxes(12, 9, 4, generator)  # feature map 4 x 1
        assert (image_box.height, image_box.width) == (6, 4)
        assert 0 <= image_box.top <= 6 and 0 <= image_box.left <= 5
        assert feature_box.height >= 1 and feature_box.width >= 1
        assert feature_box.top + feature_box.height <= 4 and feature_box.left + feature_box.width <= 1


# --- the critic's loss -----------------------------------------------------------------------------


def _critic_inputs():
    torch.manual_seed(2)
    critic = DecodingDiscriminator(channels=8)
    return critic, torch.rand(1, 3, 26, 35) * 2 - 1, torch.rand(1, 3, 26, 35) * 2 - 1


def _by_hand_rec(critic, real, top, left, norm=F.mse_loss):
    features = critic.features(real)
    whole = critic.whole_decoder(F.interpolate(features, size=(26, 35), mode="bilinear", align_corners=False))
    b, h, w = critic.feature_border, 13, 17
    crop_features = features[:, :, top - b : top - b + h, left - b : left - b + w]
    crop = critic.crop_decoder(F.interpolate(crop_features, size=(h, w), mode="bilinear", align_corners=False))
    return norm(whole, real) + norm(crop, real[:, :, top : top + h, left : left + w])


@pytest.mark.parametrize("beta", [5.0, 2.0])
def test_beta_weighs_the_decoders_reconstruction_of_the_real_image_into_the_d_loss(beta):
    critic, real, fake = _critic_inputs()
    torch.manual_seed(9)
    plain, plain_logged = SelfSupervisedWGANGP(0.1, decoder_weight=0.0).discriminator_loss(critic, real, fake)
    torch.manual_seed(9)
    weighted, logged = SelfSupervisedWGANGP(0.1, decoder_weight=beta).discriminator_loss(critic, real, fake)
    # The same mix, then the crop: L_D(beta) = L_D(0) + beta x L_rec, L_rec computed here.
    torch.manual_seed(9)
    torch.rand(1, 1, 1, 1)
    top, left = int(torch.randint(4, 26 - 4 - 13 + 1, (1,))), int(torch.randint(4, 35 - 4 - 17 + 1, (1,)))
    expected_rec = _by_hand_rec(critic, real, top, left)
    assert "d_rec" not in plain_logged and logged["d_rec"].item() == pytest.approx(expected_rec.item(), rel=1e-6)
    assert weighted.item() == pytest.approx(plain.item() + beta * expected_rec.item(), rel=1e-6)
    assert logged["gp"].item() == pytest.approx(plain_logged["gp"].item(), rel=1e-6)


def test_the_l1_setting_measures_the_reconstruction_with_l1():
    critic, real, fake = _critic_inputs()
    torch.manual_seed(9)
    _, logged = SelfSupervisedWGANGP(0.1, 5.0, "l1").discriminator_loss(critic, real, fake)
    torch.manual_seed(9)
    torch.rand(1, 1, 1, 1)
    top, left = int(torch.randint(4, 26 - 4 - 13 + 1, (1,))), int(torch.randint(4, 35 - 4 - 17 + 1, (1,)))
    assert logged["d_rec"].item() == pytest.approx(_by_hand_rec(critic, real, top, left, F.l1_loss).item(), rel=1e-6)


def _decoder_gradients(critic, real, fake, beta):
    critic = copy.deepcopy(critic)
    torch.manual_seed(9)
    loss, _ = SelfSupervisedWGANGP(0.1, beta).discriminator_loss(critic, real, fake)
    loss.backward()
    return [p.grad for decoder in (critic.whole_decoder, critic.crop_decoder) for p in decoder.parameters()]


def test_the_decoders_learn_from_the_real_image_only():
    critic, real, fake = _critic_inputs()
    with_one_fake = _decoder_gradients(critic, real, fake, 5.0)
    with_another = _decoder_gradients(critic, real, -fake, 5.0)
    assert all(g is not None and g.abs().sum() > 0 for g in with_one_fake)
    assert all(torch.equal(a, b) for a, b in zip(with_one_fake, with_another))
    assert all(g is None for g in _decoder_gradients(critic, real, fake, 0.0))


def test_one_iteration_steps_on_the_gradients_of_the_losses_computed_here():
    # D: WGAN-GP + beta x the decoders' MSEs (whole image, and the crop drawn after the GP's mix);
    # G: ConSinGAN's, -mean D(fake) + alpha x MSE(G(z_rec), real), against the D that step left.
    # The critic is moved off its init first: at the init the decoders answer ~0 everywhere, which
    # would hide how the features are resized and cropped.
    beta, weight, alpha, stage = 3.0, 0.7, 4.0, 2
    recipe = make({"optimizer": {"discriminator_steps": 1, "generator_steps": 1},
                   "loss": {"gradient_penalty_weight": weight, "decoder_weight": beta, "reconstruction_weight": alpha}})
    advance_to(recipe, stage)
    torch.manual_seed(11)
    with torch.no_grad():
        for parameter in recipe.discriminator.parameters():
            parameter.add_(0.05 * torch.randn_like(parameter))
    model, real = recipe.model, recipe.context.reals[stage]
    generator, critic = copy.deepcopy(model.generator).requires_grad_(True), copy.deepcopy(recipe.discriminator)
    noises = next_draw(recipe, stage)
    d_recorded = _gradients_at_step(recipe.discriminator_optimizer, list(recipe.discriminator.named_parameters()))
    g_recorded = _gradients_at_step(recipe.generator_optimizer, list(model.generator.named_parameters()))
    torch.manual_seed(7)
    recipe.step(0)

    torch.manual_seed(7)
    with torch.no_grad():
        fake = generator(noises, model.noise_amplitudes)
    penalty = penalty_by_hand(critic, real, fake)
    height, width = real.shape[2:]
    b, h, w = critic.feature_border, height // 2, width // 2
    top, left = int(torch.randint(b, height - b - h + 1, (1,))), int(torch.randint(b, width - b - w + 1, (1,)))
    features = critic.features(real)
    whole = critic.whole_decoder(F.interpolate(features, size=(height, width), mode="bilinear", align_corners=False))
    crop = critic.crop_decoder(F.interpolate(features[:, :, top - b : top - b + h, left - b : left - b + w], size=(h, w), mode="bilinear"))
    rec = F.mse_loss(whole, real) + F.mse_loss(crop, real[:, :, top : top + h, left : left + w])
    d_loss = critic(fake).mean() - critic(real).mean() + weight * penalty + beta * rec
    assert_gradients(d_recorded, d_loss, critic.named_parameters())

    stepped = copy.deepcopy(recipe.discriminator)
    g_loss = -stepped(generator(noises, model.noise_amplitudes)).mean() + alpha * F.mse_loss(
        generator(_reconstruction_inputs(recipe, stage), model.noise_amplitudes), real)
    # Stage 2 with 3 concurrent: every block, the head and the tail train, so all have a gradient.
    assert_gradients(g_recorded, g_loss, generator.named_parameters())


def test_a_coarsest_stage_smaller_than_the_critics_patch_is_refused_before_any_work(tmp_path):
    # Kernel 5 on the tiny preset's 16 px coarsest stage: the 5-conv critic's patch is 21 px.
    (tmp_path / "k5.yaml").write_text("network:\n  kernel_size: 5\n")
    for recipe in ("consingan", "involution"):
        args = ["train", str(BALLOONS), "--recipe", recipe, "--preset", "tiny", "--config", str(tmp_path / "k5.yaml"), "--out", str(tmp_path / recipe)]
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 2 and "smaller than the discriminator's 21x21 px patch" in result.output, result.output
        assert not (tmp_path / recipe).exists()


# --- the artifact ----------------------------------------------------------------------------------


def test_nothing_of_the_decoders_reaches_the_artifact_or_the_export(tmp_path):
    run = tmp_path / "run"
    result = CliRunner().invoke(app, ["train", str(BALLOONS), "--recipe", "involution", "--preset", "tiny", "--iterations", "3", "--out", str(run)])
    assert result.exit_code == 0, result.output
    manifest = json.loads((run / "manifest.json").read_text())
    assert manifest["model"]["class_name"] == "involution" and manifest["recipe"] == "involution"
    with safe_open(str(run / "model.safetensors"), "pt") as stored:
        keys = set(stored.keys())
    model = InvolutionModel.from_config(InvolutionModel.config_type.model_validate(manifest["model"]["config"]))
    assert keys == set(model.state_dict()) and not any("decoder" in key for key in keys)
    assert any(".involution.kernel_net." in key for key in keys)
    result = export_artifact(run, tmp_path / "repo", name="inv", formats=("onnx", "torchscript"))
    assert max(result.parity.values()) < 1e-3  # exported = eager, both formats (export refuses worse)
    graphs = sorted(path.name for path in (result.folder / "graphs").iterdir())
    assert graphs == [f"{name}.{ext}" for name in ("stage_00", "stage_01", "stage_02", "to_rgb") for ext in ("onnx", "pt")]
    # The exported graphs hold the generator's weights and each stage's amplitude, and nothing else
    # (the graphs are traced from the model alone, so this checks the export, not the recipe).
    import onnx

    onnx_graphs = [result.folder / "graphs" / g for g in graphs if g.endswith(".onnx")]
    stored = sum(int(np.prod(t.dims)) for g in onnx_graphs for t in onnx.load(str(g)).graph.initializer)
    assert stored <= sum(p.numel() for p in model.parameters()) + len(onnx_graphs) - 1
    # Served (TorchScript runtime) = in process within one level.
    served = ModelRuntime(result.folder, engine="torchscript").sample(2, 4, 30, 47, 0)
    local = sample_images(artifact.load(run).model, 2, 4, 30, 47, 0)
    assert np.abs(served.astype(int) - local.astype(int)).max() <= 1


def test_the_operators_and_critics_settings_reach_what_the_recipe_trains():
    # Every setting of the operator and of the critic's loss, away from its default, is the one trained with.
    shape = {"dilation": 2, "groups": 2, "reduction": 2, "padding": "layer", "involution_head_tail": True}
    recipe = make({"network": shape, "loss": {"decoder_loss": "l1", "decoder_weight": 2.0}}, stages=2)
    advance_to(recipe, 0)
    config, generator = recipe.model.config, recipe.model.generator
    assert {key: getattr(config, key) for key in shape} == shape
    involution = generator.body[0][0].involution
    assert (involution.dilation, involution.groups, involution.padding) == (2, 2, "layer")
    assert involution.kernel_net[0].out_channels == 8 // 2  # hidden width channels / r
    assert isinstance(generator.head, InvolutionBlock) and isinstance(generator.tail[0], InvolutionBlock)
    loss = recipe.adversarial_loss
    assert loss.decoder_weight == 2.0 and loss.reconstruction.distance is F.l1_loss


def test_on_a_stage_too_small_for_an_inner_crop_the_feature_crop_is_the_features_centred_in_the_crop():
    # Feature f is centred on pixel f + border: the feature crop is those centred inside the image
    # crop (the nearest one when none is), rows and columns alike.
    generator, border = torch.Generator().manual_seed(0), 4

    def centred(start: int, crop: int, features: int) -> list[int]:
        inside = [f for f in range(features) if start <= f + border < start + crop]
        return inside or [min(range(features), key=lambda f: abs(f + border - (start + crop / 2)))]

    tops = set()
    for _ in range(200):
        image_box, feature_box = crop_boxes(12, 9, border, generator)  # feature map 4 x 1
        tops.add(image_box.top)
        assert list(range(feature_box.top, feature_box.top + feature_box.height)) == centred(image_box.top, 6, 4)
        assert list(range(feature_box.left, feature_box.left + feature_box.width)) == centred(image_box.left, 4, 1)
    assert tops == set(range(7))


def test_the_reconstruction_is_the_one_computed_here_away_from_the_init_too():
    # At the init (weights N(0, 0.02)) the decoders answer ~0 whatever they read, so L_rec is
    # ~mean(real^2) and hides how the features are resized: compare it on a critic moved off it.
    critic, real, fake = _critic_inputs()
    with torch.no_grad():
        for parameter in critic.parameters():
            parameter.normal_(0, 0.3)
    torch.manual_seed(9)
    _, logged = SelfSupervisedWGANGP(0.1, 5.0).discriminator_loss(critic, real, fake)
    torch.manual_seed(9)
    torch.rand(1, 1, 1, 1)
    top, left = int(torch.randint(4, 26 - 4 - 13 + 1, (1,))), int(torch.randint(4, 35 - 4 - 17 + 1, (1,)))
    with torch.no_grad():
        expected = _by_hand_rec(critic, real, top, left)
    assert logged["d_rec"].item() == pytest.approx(expected.item(), rel=1e-6)
