"""ConSinGAN's stage geometry and networks, pinned to what its public code does."""

import io
import math
import warnings

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from sigctl.core.models.consingan_networks import (
    ConSinGANDiscriminator,
    GrowingGenerator,
    plan_stages,
    stage_scales,
    stage_sizes_for,
    upsample,
)
from sigctl.errors import ImageInputError

WORKED_EXAMPLE_SIZES = ((25, 34), (32, 42), (42, 56), (63, 84), (126, 167), (188, 250))
MODES = ("generation", "retarget")


def tiny_generator(mode: str, num_stages: int = 3, channels: int = 4, batch_norm: bool = False) -> GrowingGenerator:
    torch.manual_seed(0)
    generator = GrowingGenerator(channels=channels, mode=mode, batch_norm=batch_norm)
    for _ in range(num_stages - 1):
        generator.init_next_stage()
    # Distinct blocks, so a stage that ran the wrong block would show.
    with torch.no_grad():
        for block in generator.body:
            for parameter in block.parameters():
                parameter.add_(0.05 * torch.randn_like(parameter))
    return generator.eval()


def stage_noises(generator: GrowingGenerator, sizes, batch: int = 2, seed: int = 1) -> list[torch.Tensor]:
    torch.manual_seed(seed)
    return [torch.randn(batch, *generator.noise_shape(stage, *size)) for stage, size in enumerate(sizes)]


# --- Geometry ---------------------------------------------------------------------------------


def test_the_worked_example_gets_the_reference_sizes_exactly():
    sizes, scales, scale_factor = plan_stages(188, 250, max_size=250, min_size=25, num_stages=6)
    assert sizes == WORKED_EXAMPLE_SIZES
    assert scale_factor == math.pow(25 / 188, 1 / 5)
    assert scales[-1] == 1.0


def test_stage_sizes_are_rounded_up_not_to_nearest():
    # The reference's imresize: ceil(side * scale). Stage 2 is 41.73 x 55.49 px: 42x56, not 42x55.
    sizes, scales, _ = plan_stages(188, 250)
    assert sizes[2] == (42, 56) and round(250 * scales[2]) == 55


def test_the_source_is_fitted_to_max_size_with_sides_rounded_up():
    # 1000 x 250 / 1336 = 187.1: rounded up to 188 (nearest would be 187), so the worked example.
    assert plan_stages(1000, 1336).sizes == WORKED_EXAMPLE_SIZES
    # A source already within max_size is not enlarged.
    assert plan_stages(100, 120, num_stages=3).sizes[-1] == (100, 120)


def test_dense_spacing_has_the_reference_exponents_for_six_stages():
    factor = 0.7
    exponents = [math.log(scale) / math.log(factor) for scale in stage_scales(6, factor, "dense")]
    assert exponents == pytest.approx([5.0, 4.445412464587145, 3.7304247779439415, 2.7227062322935724, 1.0, 0.0], abs=1e-12)


def test_geometric_spacing_is_one_factor_per_stage():
    assert stage_scales(4, 0.5, "geometric") == (0.125, 0.25, 0.5, 1.0)
    # The worked example in harmonization mode: ceil of 188 x sf ** (5 - i).
    sizes = plan_stages(188, 250, spacing="geometric").sizes
    assert sizes[0] == (25, 34) and sizes[-1] == (188, 250)
    assert sizes[3] != WORKED_EXAMPLE_SIZES[3]


def test_two_stages_take_the_limit_and_one_stage_is_the_image_alone():
    # (stop - 1) / ln(stop) is 0 / 0 at stop = 1 (the reference divides by zero); exponent 1.
    assert stage_scales(2, 0.4, "dense") == (0.4, 1.0) == stage_scales(2, 0.4, "geometric")
    assert plan_stages(100, 50, min_size=25, num_stages=2) == (((50, 25), (100, 50)), (0.5, 1.0), 0.5)
    assert stage_scales(1, 0.4) == (1.0,)
    assert plan_stages(100, 50, num_stages=1) == (((100, 50),), (1.0,), 1.0)


def test_bad_geometry_arguments_are_refused():
    with pytest.raises(ValueError, match="at least 1 stage"):
        stage_scales(0, 0.5)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        stage_scales(3, 1.5)
    with pytest.raises(ValueError, match="spacing"):
        stage_scales(3, 0.5, "linear")
    with pytest.raises(ImageInputError, match="at least 25 px"):
        plan_stages(20, 300)


def test_a_request_at_the_training_size_maps_to_the_training_sizes():
    plan = plan_stages(1000, 1336)
    assert stage_sizes_for(188, 250, plan.scales) == plan.sizes
    other = stage_sizes_for(200, 400, plan.scales)
    assert other[-1] == (200, 400)
    assert other == tuple((math.ceil(200 * s), math.ceil(400 * s)) for s in plan.scales)


# --- Upsampling ---------------------------------------------------------------------------------


def test_upsample_is_bicubic_with_aligned_corners_and_the_identity_at_equal_size():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 5, 7)
    up = upsample(x, (11, 13))
    assert torch.equal(up, F.interpolate(x, size=(11, 13), mode="bicubic", align_corners=True))
    # align_corners keeps the corner pixels where they are.
    assert torch.allclose(up[..., [0, -1], :][..., [0, -1]], x[..., [0, -1], :][..., [0, -1]], atol=1e-6)
    assert torch.equal(upsample(x, (5, 7)), x)


# --- Generator ----------------------------------------------------------------------------------


def test_a_default_six_stage_generator_has_668227_parameters():
    generator = GrowingGenerator()
    for _ in range(5):
        generator.init_next_stage()
    # head 3*64*9+64, 6 blocks of 3 x (64*64*9+64), tail 64*3*9+3.
    assert sum(p.numel() for p in generator.parameters()) == 668_227 == 1792 + 6 * 3 * 36_928 + 1731
    # LeakyReLU 0.05 after the head and every body conv; no norm layers by default.
    assert [m.negative_slope for m in generator.modules() if isinstance(m, nn.LeakyReLU)] == [0.05] * 19
    assert not any(isinstance(m, nn.BatchNorm2d) for m in generator.modules())


def test_the_parameter_names_are_the_reference_state_dict_keys():
    keys = set(GrowingGenerator(channels=4, batch_norm=True).state_dict())
    assert {"head.conv.weight", "head.norm.weight", "body.0.block2.conv.bias", "tail.0.weight"} <= keys
    assert {"head.conv.weight", "body.block2.conv.weight", "tail.weight"} <= set(ConSinGANDiscriminator(channels=4).state_dict())


def test_weights_start_as_the_reference_inits_them():
    torch.manual_seed(0)
    generator = GrowingGenerator(batch_norm=True)
    weights = generator.body[0].block1.conv.weight
    assert abs(weights.mean().item()) < 1e-3 and weights.std().item() == pytest.approx(0.02, rel=0.05)
    norm = generator.body[0].block1.norm
    assert norm.weight.std().item() == pytest.approx(0.02, rel=0.3) and abs(norm.weight.mean().item() - 1) < 0.01
    assert torch.equal(norm.bias, torch.zeros(64))
    # Conv biases keep PyTorch's default uniform(+-1/sqrt(fan_in)): the reference leaves them alone.
    bias = generator.body[0].block1.conv.bias
    assert bias.abs().max().item() <= 1 / math.sqrt(64 * 9) and bias.abs().min().item() > 0


def test_a_new_stage_starts_as_a_copy_of_the_newest_block():
    generator = tiny_generator("generation", num_stages=2)
    generator.init_next_stage()
    newest, copied = generator.body[-2], generator.body[-1]
    for (name, original), (_, copy) in zip(newest.named_parameters(), copied.named_parameters()):
        assert torch.equal(original, copy), name
        assert original.data_ptr() != copy.data_ptr(), name
    with torch.no_grad():
        copied.block0.conv.weight.add_(1.0)
    assert not torch.equal(newest.block0.conv.weight, copied.block0.conv.weight)
    # It copies the newest block, not the first.
    assert not torch.equal(copied.block1.conv.weight, generator.body[0].block1.conv.weight)


@pytest.mark.parametrize("mode, margin", [("generation", 3), ("retarget", 0)])
def test_noise_specs(mode, margin):
    generator = GrowingGenerator(channels=8, mode=mode)
    assert generator.noise_margin == margin
    assert generator.noise_shape(0, 25, 34) == (3, 25, 34)
    assert generator.noise_shape(1, 32, 42) == (8, 32 + 2 * margin, 42 + 2 * margin)


@pytest.mark.parametrize("mode", MODES)
def test_every_stage_outputs_its_stage_size(mode):
    generator = tiny_generator(mode, num_stages=4)
    sizes = [(11, 14), (13, 17), (19, 25), (30, 40)]
    noises = stage_noises(generator, sizes)
    with torch.no_grad():
        features = generator.first_stage(noises[0])
        assert features.shape == (2, 4, 11, 14)
        for stage in range(1, 4):
            features = generator.stage_step(stage, features, noises[stage], 0.1)
            assert features.shape == (2, 4, *sizes[stage])
        assert generator.to_rgb(features).shape == (2, 3, 30, 40)
        assert generator(noises, [1.0, 0.1, 0.1, 0.1]).shape == (2, 3, 30, 40)


def test_stage_zero_in_generation_mode_upsamples_past_the_size_then_zero_pads():
    generator = tiny_generator("generation")
    z = torch.randn(2, 3, 9, 12)
    with torch.no_grad():
        head = generator.head(F.pad(z, (1, 1, 1, 1)))
        expected = generator.body[0](F.pad(upsample(head, (11, 14)), (2, 2, 2, 2)))
        assert torch.equal(generator.first_stage(z), expected)


def test_stage_zero_in_retarget_mode_zero_pads_by_the_block_border():
    generator = tiny_generator("retarget")
    z = torch.randn(2, 3, 9, 12)
    with torch.no_grad():
        expected = generator.body[0](F.pad(generator.head(F.pad(z, (1, 1, 1, 1))), (3, 3, 3, 3)))
        assert torch.equal(generator.first_stage(z), expected)


def test_a_generation_step_upsamples_past_the_size_to_the_noise_and_adds_the_carried_features():
    generator = tiny_generator("generation")
    x, z = torch.randn(2, 4, 9, 12), torch.randn(2, 4, 17, 21)
    with torch.no_grad():
        expected = generator.body[2](upsample(x, (17, 21)) + z * 0.3) + upsample(x, (11, 15))
        assert torch.equal(generator.stage_step(2, x, z, 0.3), expected)


def test_a_retarget_step_zero_pads_after_adding_the_noise():
    generator = tiny_generator("retarget")
    x, z = torch.randn(2, 4, 9, 12), torch.randn(2, 4, 11, 15)
    with torch.no_grad():
        carried = upsample(x, (11, 15))
        expected = generator.body[2](F.pad(carried + z * 0.3, (3, 3, 3, 3))) + carried
        assert torch.equal(generator.stage_step(2, x, z, 0.3), expected)


def test_the_tail_zero_pads_once_and_ends_in_tanh():
    generator = tiny_generator("generation")
    x = torch.randn(2, 4, 9, 12)
    with torch.no_grad():
        expected = torch.tanh(generator.tail[0](F.pad(x, (1, 1, 1, 1))))
        assert torch.equal(generator.to_rgb(x), expected)


@pytest.mark.parametrize("mode", MODES)
def test_forward_is_the_chain_of_stage_functions_bit_for_bit(mode):
    generator = tiny_generator(mode, num_stages=3, batch_norm=True)
    sizes = [(11, 14), (15, 19), (22, 29)]
    noises, amplitudes = stage_noises(generator, sizes), [1.0, 0.2, torch.tensor(0.1)]
    with torch.no_grad():
        features = generator.first_stage(noises[0])
        for stage in (1, 2):
            features = generator.stage_step(stage, features, noises[stage], amplitudes[stage])
        assert torch.equal(generator(noises, amplitudes), generator.to_rgb(features))
        # amplitudes[0] is not applied: the stage-0 input enters as it is.
        assert torch.equal(generator(noises, [7.0, *amplitudes[1:]]), generator.to_rgb(features))


def test_generator_arguments_are_checked():
    with pytest.raises(ValueError, match="mode"):
        GrowingGenerator(mode="harmonise")
    with pytest.raises(ValueError, match="odd"):
        GrowingGenerator(kernel_size=4)
    generator = GrowingGenerator(channels=4)
    with pytest.raises(ValueError, match="one of each per stage"):
        generator([torch.zeros(1, 3, 8, 8)] * 2, [1.0, 0.1])
    with pytest.raises(ValueError, match="stage_step runs stages"):
        generator.stage_step(0, torch.zeros(1, 4, 8, 8), torch.zeros(1, 4, 14, 14), 0.1)


# --- ONNX parity ----------------------------------------------------------------------------------


class FirstStageGraph(nn.Module):
    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, stage_input):
        return self.generator.first_stage(stage_input)


class StageStepGraph(nn.Module):
    def __init__(self, generator, stage, amplitude):
        super().__init__()
        self.generator, self.stage = generator, stage
        self.register_buffer("amplitude", torch.tensor(amplitude))

    def forward(self, features, noise):
        return self.generator.stage_step(self.stage, features, noise, self.amplitude)


class ToRGBGraph(nn.Module):
    def __init__(self, generator):
        super().__init__()
        self.generator = generator

    def forward(self, features):
        return self.generator.to_rgb(features)


def onnx_session(graph: nn.Module, example: tuple, names: list[str]):
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the legacy exporter's deprecation notice
        torch.onnx.export(
            graph,
            example,
            buffer,
            dynamo=False,
            opset_version=17,
            input_names=names,
            output_names=["out"],
            dynamic_axes={name: {0: "batch", 2: f"{name}_height", 3: f"{name}_width"} for name in [*names, "out"]},
        )
    return onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("mode", MODES)
def test_each_stage_function_exports_to_onnx_and_matches_at_another_size(mode):
    generator = tiny_generator(mode, num_stages=2, channels=8)
    margin = generator.noise_margin

    def run(session, *inputs):
        feeds = {arg.name: value.numpy() for arg, value in zip(session.get_inputs(), inputs)}
        return session.run(None, feeds)[0]

    first = onnx_session(FirstStageGraph(generator), (torch.zeros(1, 3, 9, 11),), ["stage_input"])
    step = onnx_session(
        StageStepGraph(generator, 1, 0.25),
        (torch.zeros(1, 8, 9, 11), torch.zeros(1, 8, 12 + 2 * margin, 15 + 2 * margin)),
        ["features", "noise"],
    )
    rgb = onnx_session(ToRGBGraph(generator), (torch.zeros(1, 8, 9, 11),), ["features"])

    # Other batch, sizes and aspect than the export examples.
    torch.manual_seed(3)
    z0, z1 = torch.randn(3, 3, 13, 8), torch.randn(3, 8, 21 + 2 * margin, 12 + 2 * margin)
    with torch.no_grad():
        features0 = generator.first_stage(z0)
        features1 = generator.stage_step(1, features0, z1, torch.tensor(0.25))
        image = generator.to_rgb(features1)
    served0 = run(first, z0)
    served1 = run(step, features0, z1)
    served_image = run(rgb, features1)
    assert served1.shape == (3, 8, 21, 12) and served_image.shape == (3, 3, 21, 12)
    assert np.abs(served0 - features0.numpy()).max() < 1e-4
    assert np.abs(served1 - features1.numpy()).max() < 1e-4
    assert np.abs(served_image - image.numpy()).max() < 1e-4


# --- Discriminator --------------------------------------------------------------------------------


def test_the_discriminator_scores_11x11_patches_with_five_unpadded_convs_and_no_norm():
    discriminator = ConSinGANDiscriminator(channels=8)
    convs = [m for m in discriminator.modules() if isinstance(m, nn.Conv2d)]
    assert [(c.in_channels, c.out_channels, c.kernel_size, c.padding) for c in convs] == [
        (3, 8, (3, 3), (0, 0)),
        *[(8, 8, (3, 3), (0, 0))] * 3,
        (8, 1, (3, 3), (0, 0)),
    ]
    assert not any(isinstance(m, nn.BatchNorm2d) for m in discriminator.modules())
    assert discriminator.patch_size == 11
    assert discriminator(torch.zeros(2, 3, 25, 34)).shape == (2, 1, 15, 24)
    # LeakyReLU (slope 0.05) after every conv but the last.
    assert [m.negative_slope for m in discriminator.modules() if isinstance(m, nn.LeakyReLU)] == [0.05] * 4
