"""The dilated involution (seed 004, eq. 3-4) against a direct loop over its equation, and the
involution generator built of it: sizes, borders, parameters, and graphs that export."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydantic
import pytest
import torch
import torch.nn.functional as F

from sigctl.core.models.cost import stage_macs
from sigctl.core.models.dilated_involution import DilatedInvolution, InvolutionBlock, involve
from sigctl.core.models.involution import InvolutionConfig, InvolutionModel

PAPER_SIZES = [(25, 34), (32, 42), (42, 56), (63, 84), (125, 167), (186, 248)]


def direct_involution(x: torch.Tensor, kernels: torch.Tensor, kernel_size: int, dilation: int, groups: int) -> torch.Tensor:
    """Eq. 3 as written, one output value at a time: Y[i, j, k] = sum over centred taps (u, v) of
    H[i, j, u + K//2, v + K//2, g(k)] * X[i + u d, j + v d, k], g(k) = floor(k G / C), on an unpadded
    input whose output (i, j) is centred on input (i + reach, j + reach)."""
    batch, channels, height, width = x.shape
    reach, half = dilation * (kernel_size // 2), kernel_size // 2
    out_height, out_width = height - 2 * reach, width - 2 * reach
    # kernels: (N, G*K*K, h, w), channel g*K*K + a*K + b = tap (a, b) of group g.
    h = kernels.reshape(batch, groups, kernel_size, kernel_size, out_height, out_width)
    y = torch.zeros(batch, channels, out_height, out_width, dtype=torch.float64)
    for n in range(batch):
        for k in range(channels):
            g = k * groups // channels
            for i in range(out_height):
                for j in range(out_width):
                    total = 0.0
                    for u in range(-half, half + 1):
                        for v in range(-half, half + 1):
                            total += float(h[n, g, u + half, v + half, i, j]) * float(x[n, k, i + reach + u * dilation, j + reach + v * dilation])
                    y[n, k, i, j] = total
    return y


@pytest.mark.parametrize("kernel_size, dilation, groups", [(3, 1, 1), (3, 1, 4), (3, 3, 2), (3, 3, 4), (5, 2, 8), (1, 3, 4)])
def test_the_aggregation_is_the_papers_equation(kernel_size, dilation, groups):
    torch.manual_seed(kernel_size * 100 + dilation * 10 + groups)
    span = dilation * (kernel_size - 1)
    x = torch.randn(2, 8, 6 + span, 5 + span, dtype=torch.float64)
    kernels = torch.randn(2, groups * kernel_size**2, 6, 5, dtype=torch.float64)
    got = involve(x, kernels, kernel_size, dilation, groups)
    assert got.shape == (2, 8, 6, 5)
    torch.testing.assert_close(got, direct_involution(x, kernels, kernel_size, dilation, groups), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("dilation, groups", [(1, 2), (3, 4)])
def test_each_kernel_is_phi_of_the_window_centre_fc_instancenorm_relu_fc(dilation, groups):
    torch.manual_seed(dilation + groups)
    layer = DilatedInvolution(8, 3, dilation, groups, reduction=2).double()
    x = torch.randn(1, 8, 7 + 2 * dilation, 9 + 2 * dilation, dtype=torch.float64)
    first, norm, _, second = layer.kernel_net
    # phi by hand: per-position FC (a matrix), then per-channel normalisation over positions, ReLU, FC.
    centres = x[0, :, dilation:-dilation, dilation:-dilation].reshape(8, -1)
    hidden = first.weight[:, :, 0, 0] @ centres + first.bias[:, None]
    mean, var = hidden.mean(dim=1, keepdim=True), hidden.var(dim=1, unbiased=False, keepdim=True)
    hidden = (hidden - mean) / torch.sqrt(var + norm.eps) * norm.weight[:, None] + norm.bias[:, None]
    expected = second.weight[:, :, 0, 0] @ torch.relu(hidden) + second.bias[:, None]
    assert first.out_channels == 4 and second.out_channels == groups * 9  # C / r hidden, K*K*G kernels
    torch.testing.assert_close(layer.kernels(x)[0].reshape(groups * 9, -1), expected)
    with torch.no_grad():
        torch.testing.assert_close(layer(x), direct_involution(x, layer.kernels(x), 3, dilation, groups))


def test_block_padding_eats_the_reach_and_layer_padding_is_block_on_a_zero_padded_input():
    torch.manual_seed(0)
    block = DilatedInvolution(8, 3, 3, 4, padding="block")
    layer = DilatedInvolution(8, 3, 3, 4, padding="layer")
    layer.load_state_dict(block.state_dict())
    x = torch.randn(2, 8, 11, 14)
    assert (block.border, layer.border, block.reach) == (3, 0, 3)
    with torch.no_grad():
        assert block(x).shape == (2, 8, 5, 8) and layer(x).shape == (2, 8, 11, 14)
        torch.testing.assert_close(layer(x), block(F.pad(x, (3, 3, 3, 3))), rtol=0, atol=0)


def test_an_involution_block_fuses_channels_with_a_1x1_conv_then_leaky_relu():
    block = InvolutionBlock(8, 5, 3, 2, 4, 1, "block", 0.05, batch_norm=False)
    assert [name for name, _ in block.named_children()] == ["involution", "conv", "lrelu"]
    assert block.conv.kernel_size == (1, 1) and (block.conv.in_channels, block.conv.out_channels) == (8, 5) and block.border == 2
    x = torch.randn(1, 8, 9, 9)
    with torch.no_grad():
        torch.testing.assert_close(block(x), F.leaky_relu(block.conv(block.involution(x)), 0.05))


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"kernel_size": 2}, "must be a positive odd number"),
        ({"kernel_size": -1}, "must be a positive odd number"),
        ({"dilation": 0}, "at least 1"),
        ({"groups": 3}, "cannot be split into 3"),
        ({"reduction": 0}, "reduction is 0"),
        ({"padding": "same"}, "valid paddings"),
    ],
)
def test_bad_operator_arguments_are_refused(arguments, message):
    with pytest.raises(ValueError, match=message):
        DilatedInvolution(8, **arguments)


def _export(module, example, names):
    import onnxruntime

    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module, example, buffer, dynamo=False, opset_version=17, input_names=names, output_names=["out"],
            dynamic_axes={name: {0: "batch", 2: f"{name}_h", 3: f"{name}_w"} for name in [*names, "out"]},
        )
        traced = torch.jit.trace(module, example, check_trace=False)
    return onnxruntime.InferenceSession(buffer.getvalue(), providers=["CPUExecutionProvider"]), traced


@pytest.mark.parametrize("padding", ["block", "layer"])
def test_the_operator_exports_with_dynamic_sizes_and_matches_eager(padding):
    torch.manual_seed(1)
    layer = DilatedInvolution(8, 3, 3, 4, padding=padding).eval()
    session, traced = _export(layer, (torch.zeros(1, 8, 12, 15),), ["x"])
    x = torch.randn(3, 8, 21, 10)  # another batch, size and aspect than the example
    with torch.no_grad():
        eager = layer(x)
        assert np.abs(session.run(None, {"x": x.numpy()})[0] - eager.numpy()).max() < 1e-4
        torch.testing.assert_close(traced(x), eager, rtol=0, atol=1e-6)


def _paper_model(**overrides) -> InvolutionModel:
    scales = [width / 248 for _, width in PAPER_SIZES]
    return InvolutionModel.from_config(InvolutionConfig(sizes=PAPER_SIZES, stage_scales=scales, **overrides))


def test_the_default_generator_has_about_the_papers_0_21m_parameters():
    # Seed 004 reports ~0.21M; K = 3, G = 4, r = 1 at 64 channels and 6 stages give 197,707:
    # per body layer phi (64x64 + 64) + InstanceNorm (2 x 64) + (64 x 36 + 36), the 1x1 conv
    # 64 x 64 + 64, 10,788 in all, x 3 layers x 6 stages; head 3 x 64 x 9 + 64, tail 64 x 3 x 9 + 3.
    model = _paper_model()
    assert sum(p.numel() for p in model.generator.parameters()) == 197_707
    assert sum(p.numel() for p in _paper_model(reduction=4).generator.parameters()) == 108_715


@pytest.mark.parametrize(
    "overrides, block_border, margin",
    [
        ({}, 0, 0),  # layer padding (the default): each involution pads itself, no margins
        ({"padding": "block"}, 9, 9),
        ({"padding": "block", "dilation": 1}, 3, 3),
        ({"padding": "block", "involution_head_tail": True}, 9, 9),
        ({"involution_head_tail": True}, 0, 0),
    ],
)
def test_every_stage_outputs_its_stage_size_with_the_margin_its_layers_eat(overrides, block_border, margin):
    model = _paper_model(channels=8, **overrides)
    generator = model.generator
    assert generator.block_border == block_border and model.spec().noises[1].margin == margin
    sizes = [(13, 17), (17, 22), (22, 29)]
    with torch.no_grad():
        features = generator.first_stage(torch.randn(2, 3, *sizes[0]))
        assert features.shape == (2, 8, *sizes[0])
        for stage, size in enumerate(sizes[1:], start=1):
            features = generator.stage_step(stage, features, torch.randn(2, *model.noise_spec(stage).shape(*size)), 0.1)
            assert features.shape == (2, 8, *size)
        assert generator.to_rgb(features).shape == (2, 3, *sizes[-1])


def test_head_and_tail_are_plain_convs_unless_asked_and_the_body_is_involution_blocks():
    plain, involved = _paper_model(channels=8).generator, _paper_model(channels=8, involution_head_tail=True).generator
    assert isinstance(plain.head.conv, torch.nn.Conv2d) and plain.head.conv.kernel_size == (3, 3)
    assert isinstance(plain.tail[0], torch.nn.Conv2d)
    assert all(isinstance(layer, InvolutionBlock) for block in plain.body for layer in block)
    assert isinstance(involved.head, InvolutionBlock) and involved.head.involution.groups == 1
    assert isinstance(involved.tail[0], InvolutionBlock) and isinstance(involved.tail[1], torch.nn.Tanh)
    assert involved.head_border == involved.tail_border == 0  # self-padding (the default)
    blocked = _paper_model(channels=8, involution_head_tail=True, padding="block").generator
    assert blocked.head_border == blocked.tail_border == 3 and plain.head_border == plain.tail_border == 1


def test_an_invalid_config_is_refused():
    with pytest.raises(ValueError, match="cannot be split into 5 involution groups"):
        _paper_model(groups=5)


@pytest.mark.parametrize("padding", ["block", "layer"])
def test_stage_zero_upsamples_the_heads_border_into_the_block_padding_and_not_past_a_self_padding_block(padding):
    # Block padding: the head's features are upsampled by the head's border per side (the
    # reference's edge diversity) and zero-padded by the rest of the block's border (9 - 1 px).
    # Layer padding: the block eats nothing, so the head's features enter it as they are.
    torch.manual_seed(0)
    generator = _paper_model(channels=8, padding=padding).generator.eval()
    x = torch.randn(2, 3, 13, 17)
    with torch.no_grad():
        features = generator.head(F.pad(x, (1,) * 4))
        if padding == "block":
            features = F.pad(F.interpolate(features, size=(15, 19), mode="bicubic", align_corners=True), (8,) * 4)
        torch.testing.assert_close(generator.first_stage(x), generator.body[0](features), rtol=0, atol=0)


def test_the_config_itself_refuses_groups_that_do_not_divide_the_channels():
    # The config's own check (a stored config is validated before any layer is built).
    scales = [width / 248 for _, width in PAPER_SIZES]
    with pytest.raises(pydantic.ValidationError, match="64 channels cannot be split into 5 involution groups"):
        InvolutionConfig(sizes=PAPER_SIZES, stage_scales=scales, groups=5)


def test_a_samples_cost_counts_each_involutions_k_x_k_multiply_adds_per_output_value():
    # One 10 x 12 stage of self-padding layers at 8 channels, K 3, G 4, r 1, per output pixel:
    # head 8 x 27; per body layer phi 8 x 8 + 36 x 8, the aggregation 8 x 9, the 1x1 conv 8 x 8; tail 3 x 72.
    model = InvolutionModel.from_config(InvolutionConfig(sizes=[(10, 12)], stage_scales=[1.0], channels=8, padding="layer"))
    per_pixel = 8 * 27 + 3 * (8 * 8 + 36 * 8 + 8 * 9 + 8 * 8) + 3 * 72
    assert stage_macs(model, 10, 12) == [per_pixel * 10 * 12]
