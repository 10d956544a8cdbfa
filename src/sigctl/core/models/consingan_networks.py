"""ConSinGAN's networks and the stage sizes they run at, as its public code builds them.

Faithful to tohinz/ConSinGAN (``functions.py``: ``adjust_scales2image``, ``create_reals_pyramid``;
``imresize.py``: ``fix_scale_and_size``; ``models.py``: ``GrowingGenerator``, ``Discriminator``,
``weights_init``), rebuilt from plain arguments so a model interface can wrap it.

Stage 0 is the coarsest. Unlike SinGAN, stages pass **features** (``channels`` wide) to each other
and one shared ``tail`` turns the last stage's features into RGB. The forward pass is split into
stage functions (``first_stage``, ``stage_step``, ``to_rgb``) so each can be exported as its own
graph; ``forward`` is exactly their chain.

Modes: ``"generation"`` is the reference's generation and animation path (features are upsampled
past the stage size instead of zero-padded, and the noise above stage 0 carries that margin);
``"retarget"`` is its retarget, harmonization and editing path (zero padding, noise at the stage
size).

Module and parameter names follow the reference (``head.conv``, ``body.K.blockI.conv``,
``tail.0``), so its state-dict keys are the reference's.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from typing import Literal, NamedTuple, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from sigctl.core.scales import fit_exactly
from sigctl.errors import ImageInputError

Spacing = Literal["dense", "geometric"]
GeneratorMode = Literal["generation", "retarget"]
Size = tuple[int, int]

SPACINGS: tuple[Spacing, ...] = ("dense", "geometric")
GENERATOR_MODES: tuple[GeneratorMode, ...] = ("generation", "retarget")
IMAGE_CHANNELS = 3


# --- Geometry --------------------------------------------------------------------------------


class StagePlan(NamedTuple):
    """Sizes of the training stages (unpacks as ``sizes, scales, scale_factor``).

    Attributes:
        sizes: (height, width) per stage, coarsest first; the last is the fitted image size.
        scales: each stage's size ratio to the finest (the last is 1.0).
        scale_factor: the reference's ``opt.scale_factor``, a shrink factor <= 1:
            ``(min_size / shorter side) ** (1 / (num_stages - 1))``.
    """

    sizes: tuple[Size, ...]
    scales: tuple[float, ...]
    scale_factor: float


def stage_scales(num_stages: int, scale_factor: float, spacing: Spacing = "dense") -> tuple[float, ...]:
    """Each stage's size ratio to the finest stage, coarsest first.

    With ``stop = num_stages - 1``, stage ``i < stop`` has ratio ``scale_factor ** e_i`` and the
    last stage 1. ``"dense"`` (ConSinGAN's default) uses ``e_i = (stop - 1) / ln(stop) *
    ln(stop - i) + 1`` (exponents 5, 4.45, 3.73, 2.72, 1, 0 for 6 stages: more stages at low
    resolution); ``"geometric"`` (its harmonization mode) uses ``e_i = stop - i``.

    Cases the reference cannot run: one stage is the finest alone, ``(1.0,)``; with two stages
    ``(stop - 1) / ln(stop)`` is 0 / 0 (the reference raises ZeroDivisionError), but it only
    multiplies ``ln(stop - 0) = 0``, so the exponent is 1 and both spacings give
    ``(scale_factor, 1.0)`` (also the limit of the dense formula as stop -> 1).

    Args:
        num_stages: number of stages (>= 1).
        scale_factor: shrink factor in (0, 1] (see ``StagePlan.scale_factor``).
        spacing: ``"dense"`` or ``"geometric"``.
    """
    if num_stages < 1:
        raise ValueError(f"num_stages is {num_stages}; a model needs at least 1 stage")
    if not 0.0 < scale_factor <= 1.0:
        raise ValueError(f"scale_factor is {scale_factor}; it is a shrink factor and must be in (0, 1]")
    if spacing not in SPACINGS:
        raise ValueError(f"spacing is {spacing!r}; valid spacings are {', '.join(SPACINGS)}")
    stop = num_stages - 1
    if spacing == "geometric":
        exponents = [stop - i for i in range(stop)]
    else:
        # At stop = 1 the slope is 0 / 0 but multiplies ln(1) = 0 alone; 1 is its limit. The
        # expression order is the reference's, so the floats (and the ceil'ed sizes) are the same.
        slope = (stop - 1) / math.log(stop) if stop > 1 else 1.0
        exponents = [slope * math.log(stop - i) + 1 for i in range(stop)]
    return tuple(math.pow(scale_factor, exponent) for exponent in exponents) + (1.0,)


def stage_sizes_for(height: int, width: int, scales: Sequence[float]) -> tuple[Size, ...]:
    """Stage sizes for an output of ``height x width``: ``ceil(side * scale)`` per stage.

    This is the reference's ``imresize`` size rule (``fix_scale_and_size``: ``ceil(input_shape *
    scale_factor)``, in float64), which also makes the training sizes; so the training size maps to
    exactly the training sizes, and the last stage (ratio 1) is the requested size itself.
    """
    if height < 1 or width < 1:
        raise ValueError(f"size {height}x{width} is empty; height and width must be at least 1 px")
    return tuple((math.ceil(height * scale), math.ceil(width * scale)) for scale in scales)


def plan_stages(
    source_height: int,
    source_width: int,
    max_size: int = 250,
    min_size: int = 25,
    num_stages: int = 6,
    spacing: Spacing = "dense",
) -> StagePlan:
    """ConSinGAN's training stages for a source image of ``source_height x source_width``.

    The image is fitted so its longer side is at most ``max_size`` (sides rounded up, as the
    reference's resize does); then ``scale_factor = (min_size / shorter) ** (1 / (num_stages - 1))``
    and the stage sizes follow ``stage_scales`` and ``stage_sizes_for``. A 188x250 image gives
    25x34, 32x42, 42x56, 63x84, 126x167, 188x250. One stage (the reference divides by zero) is
    the fitted image alone, with scale_factor 1.
    """
    if min_size < 1 or max_size < min_size:
        raise ValueError(f"min_size {min_size} and max_size {max_size}: need 1 <= min_size <= max_size")
    height, width = fit_exactly(source_height, source_width, max_size)
    if min(height, width) < min_size:
        raise ImageInputError(
            f"the image is {height}x{width} px after fitting to {max_size} px; its shorter side must be "
            f"at least {min_size} px (the coarsest stage's size): use a larger image or a smaller min_size"
        )
    stop = num_stages - 1
    scale_factor = math.pow(min_size / min(height, width), 1 / stop) if stop > 0 else 1.0
    scales = stage_scales(num_stages, scale_factor, spacing)
    return StagePlan(sizes=stage_sizes_for(height, width, scales), scales=scales, scale_factor=scale_factor)


# --- Building blocks -------------------------------------------------------------------------


def upsample(features: torch.Tensor, size: Size) -> torch.Tensor:
    """Resize between stages: bicubic, align_corners=True (the reference's ``upsample``).

    At equal size this is the identity bit for bit (align_corners samples the pixel centres), so
    no shortcut is taken: a shortcut would vanish from a traced graph whose example sizes matched.
    """
    return F.interpolate(features, size=size, mode="bicubic", align_corners=True)


def _zero_pad(features: torch.Tensor, pixels: int) -> torch.Tensor:
    return F.pad(features, (pixels, pixels, pixels, pixels)) if pixels else features


class ConvBlock(nn.Sequential):
    """Unpadded conv -> [BatchNorm] -> LeakyReLU (the reference's ``ConvBlock``, same names).

    ``border``: px the block eats per side (every layer a generator is built of states it)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, leaky_slope: float, batch_norm: bool):
        super().__init__()
        self.add_module("conv", nn.Conv2d(in_channels, out_channels, kernel_size))
        if batch_norm:
            self.add_module("norm", nn.BatchNorm2d(out_channels))
        self.add_module("lrelu", nn.LeakyReLU(leaky_slope))
        self.border = (kernel_size - 1) // 2


def _conv_stack(num_layers: int, channels: int, kernel_size: int, leaky_slope: float, batch_norm: bool) -> nn.Sequential:
    return _stack([ConvBlock(channels, channels, kernel_size, leaky_slope, batch_norm) for _ in range(num_layers)])


def _stack(layers: Sequence[nn.Module]) -> nn.Sequential:
    stack = nn.Sequential()
    for index, layer in enumerate(layers):
        stack.add_module(f"block{index}", layer)
    return stack


def with_border(module: nn.Module, border: int) -> nn.Module:
    """``module`` marked as eating ``border`` px per side."""
    module.border = border
    return module


class Layers(Protocol):
    """What a growing generator is built of (its block operator): each layer states its ``border``."""

    def head(self) -> nn.Module:
        """(N, 3, H, W) -> (N, C, H - 2b, W - 2b)."""

    def body_layer(self) -> nn.Module:
        """(N, C, H, W) -> (N, C, H - 2b, W - 2b); a stage's block is ``layers_per_block`` of these."""

    def tail(self) -> nn.Module:
        """(N, C, H, W) -> (N, 3, H - 2b, W - 2b) in [-1, 1]."""


class ConvLayers:
    """ConSinGAN's layers: unpadded k x k convs (head: conv 3->C + LReLU, tail: conv C->3 + tanh)."""

    def __init__(self, channels: int, kernel_size: int = 3, leaky_slope: float = 0.05, batch_norm: bool = False):
        self.channels, self.kernel_size, self.leaky_slope, self.batch_norm = channels, kernel_size, leaky_slope, batch_norm

    def head(self) -> nn.Module:
        return ConvBlock(IMAGE_CHANNELS, self.channels, self.kernel_size, self.leaky_slope, self.batch_norm)

    def body_layer(self) -> nn.Module:
        return ConvBlock(self.channels, self.channels, self.kernel_size, self.leaky_slope, self.batch_norm)

    def tail(self) -> nn.Module:
        tail = nn.Sequential(nn.Conv2d(self.channels, IMAGE_CHANNELS, self.kernel_size), nn.Tanh())
        return with_border(tail, (self.kernel_size - 1) // 2)


def init_weights(module: nn.Module) -> None:
    """The reference's ``weights_init``: conv weights N(0, 0.02), norm weights N(1, 0.02), norm biases 0.

    Conv biases keep PyTorch's default init (uniform in +-1/sqrt(fan_in)): the reference never
    touches them.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Conv2d):
            nn.init.normal_(layer.weight, 0.0, 0.02)
        elif isinstance(layer, nn.BatchNorm2d):
            nn.init.normal_(layer.weight, 1.0, 0.02)
            nn.init.zeros_(layer.bias)


def _check_network_arguments(channels: int, kernel_size: int, layers: int) -> None:
    if channels < 1:
        raise ValueError(f"channels is {channels}; need at least 1")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size is {kernel_size}; it must be odd (the stages' pads are symmetric)")
    if layers < 1:
        raise ValueError(f"{layers} conv layers per block; need at least 1")


# --- Generator -------------------------------------------------------------------------------


class GrowingGenerator(nn.Module):
    """ConSinGAN's generator: a shared head and tail around one body block per stage.

    ``head`` (pad + conv 3->C + LReLU) reads the stage-0 input (3-channel noise, or the image that
    enters instead); ``body[k]`` is stage k's block of ``layers_per_block`` unpadded layers; ``tail``
    (pad + conv C->3 + tanh) makes RGB from the last stage's features. It starts with one stage;
    ``init_next_stage`` grows it. The layers come from ``layers`` (ConSinGAN's convs unless
    given; seed 004's involution generator gives dilated involutions): the pads around them follow
    the borders the layers state.

    Args:
        channels: feature channels C between stages (64).
        kernel_size: odd conv kernel size (3); each unpadded conv eats ``(k - 1) / 2`` px per side.
        layers_per_block: layers per body block (3).
        leaky_slope: LeakyReLU negative slope (0.05).
        batch_norm: BatchNorm after each head and body conv (off in the reference's defaults).
        mode: ``"generation"`` or ``"retarget"`` (see the module docstring).
        layers: the layer factory (default ``ConvLayers(channels, kernel_size, leaky_slope, batch_norm)``).
    """

    def __init__(
        self,
        channels: int = 64,
        kernel_size: int = 3,
        layers_per_block: int = 3,
        leaky_slope: float = 0.05,
        batch_norm: bool = False,
        mode: GeneratorMode = "generation",
        layers: Layers | None = None,
    ):
        super().__init__()
        _check_network_arguments(channels, kernel_size, layers_per_block)
        if mode not in GENERATOR_MODES:
            raise ValueError(f"mode is {mode!r}; valid modes are {', '.join(GENERATOR_MODES)}")
        self.channels = channels
        self.mode = mode
        layers = layers or ConvLayers(channels, kernel_size, leaky_slope, batch_norm)
        self.head = layers.head()
        self.body = nn.ModuleList([_stack([layers.body_layer() for _ in range(layers_per_block)])])
        self.tail = layers.tail()
        # The reference pads head and tail by 1 and blocks by num_layer: its 3x3-conv case of these.
        self.head_border, self.tail_border = self.head.border, self.tail.border
        self.block_border = sum(layer.border for layer in self.body[0])
        init_weights(self)

    @property
    def num_stages(self) -> int:
        return len(self.body)

    @property
    def noise_margin(self) -> int:
        """Pixels per side by which noise above stage 0 exceeds its stage size (0 in retarget mode)."""
        return self.block_border if self.mode == "generation" else 0

    def noise_channels(self, stage: int) -> int:
        """Channels of stage ``stage``'s noise: RGB at stage 0, features above."""
        return IMAGE_CHANNELS if stage == 0 else self.channels

    def noise_shape(self, stage: int, height: int, width: int) -> tuple[int, int, int]:
        """(channels, height, width) of the noise for a stage of ``height x width`` px."""
        margin = self.noise_margin if stage > 0 else 0
        return self.noise_channels(stage), height + 2 * margin, width + 2 * margin

    def init_next_stage(self) -> None:
        """Grow by one stage whose block starts as a copy of the newest (the reference's warm start)."""
        self.body.append(copy.deepcopy(self.body[-1]))

    def first_stage(self, stage_input: torch.Tensor) -> torch.Tensor:
        """Stage 0: (N, 3, H0, W0) noise or injected image -> (N, C, H0, W0) features."""
        features = self.head(_zero_pad(stage_input, self.head_border))
        if self.mode == "generation":
            # The reference upsamples one conv's border past the size before zero-padding the
            # rest, "to increase the image diversity at the edges" (here the head's border, at
            # most the block's: a block of self-padding layers eats nothing and takes no margin).
            border = min(self.head_border, self.block_border)
            features = upsample(features, (features.shape[2] + 2 * border, features.shape[3] + 2 * border))
            features = _zero_pad(features, self.block_border - border)
        else:
            features = _zero_pad(features, self.block_border)
        return self.body[0](features)

    def stage_step(self, stage: int, features: torch.Tensor, noise: torch.Tensor, amplitude: float | torch.Tensor) -> torch.Tensor:
        """Stage ``stage`` >= 1: the previous stage's features -> this stage's (N, C, Hk, Wk).

        The stage size is read from the noise, (N, C, Hk + 2m, Wk + 2m) with m = ``noise_margin``,
        so an exported graph takes its output size from its noise input. Generation mode:
        ``body[k](up(x, noise size) + z * amp) + up(x, Hk, Wk)``; retarget mode:
        ``body[k](pad_m(up(x, Hk, Wk) + z * amp)) + up(x, Hk, Wk)``, with zero pads.
        """
        if not 1 <= stage < self.num_stages:
            raise ValueError(f"stage is {stage}; stage_step runs stages 1..{self.num_stages - 1} (stage 0 is first_stage)")
        margin = self.noise_margin
        height, width = noise.shape[2] - 2 * margin, noise.shape[3] - 2 * margin
        carried = upsample(features, (height, width))
        if self.mode == "generation":
            entering = upsample(features, (noise.shape[2], noise.shape[3])) + noise * amplitude
        else:
            entering = _zero_pad(carried + noise * amplitude, self.block_border)
        return self.body[stage](entering) + carried

    def to_rgb(self, features: torch.Tensor) -> torch.Tensor:
        """The shared tail: (N, C, H, W) features -> (N, 3, H, W) image in [-1, 1]."""
        return self.tail(_zero_pad(features, self.tail_border))

    def forward(self, noises: Sequence[torch.Tensor], amplitudes: Sequence[float | torch.Tensor]) -> torch.Tensor:
        """All stages: ``to_rgb(stage_step(..., stage_step(1, first_stage(noises[0]), ...)))``.

        Args:
            noises: one per stage, shaped as ``noise_shape`` says; ``noises[0]`` may be an image.
            amplitudes: one per stage; ``amplitudes[0]`` is not applied (the reference's
                ``noise_amp[0] = 1`` is never read: the stage-0 input enters as it is).
        """
        if len(noises) != self.num_stages or len(amplitudes) != self.num_stages:
            raise ValueError(
                f"{len(noises)} noises and {len(amplitudes)} amplitudes for a {self.num_stages}-stage generator; give one of each per stage"
            )
        features = self.first_stage(noises[0])
        for stage in range(1, self.num_stages):
            features = self.stage_step(stage, features, noises[stage], amplitudes[stage])
        return self.to_rgb(features)


# --- Discriminator ---------------------------------------------------------------------------


class ConSinGANDiscriminator(nn.Module):
    """Patch critic: conv 3->C, ``layers`` x conv C->C, conv C->1, all unpadded, LReLU between.

    With the defaults (3x3, 3 layers) each output scores an 11x11 patch; the score map is
    (H - 10) x (W - 10). ``batch_norm`` is beyond the reference, whose discriminator never has
    norm layers (its ``--batch_norm`` reaches the generator only).
    """

    def __init__(
        self,
        channels: int = 64,
        kernel_size: int = 3,
        layers: int = 3,
        leaky_slope: float = 0.05,
        batch_norm: bool = False,
    ):
        super().__init__()
        _check_network_arguments(channels, kernel_size, layers)
        self.patch_size = 1 + (layers + 2) * (kernel_size - 1)
        self.head = ConvBlock(IMAGE_CHANNELS, channels, kernel_size, leaky_slope, batch_norm)
        self.body = _conv_stack(layers, channels, kernel_size, leaky_slope, batch_norm)
        self.tail = nn.Conv2d(channels, 1, kernel_size)
        init_weights(self)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) image -> (N, 1, H - patch + 1, W - patch + 1) patch scores."""
        return self.tail(self.body(self.head(image)))
