"""PetsGAN's settings (seed 000; zhangzc21/PetsGAN), with its code's defaults where it has them.

The code trains three phases of 5000 iterations (the prior generator, the restoration network, then
both jointly against one multi-scale discriminator). A fourth phase (ours: the paper describes it,
its code has none) trains the learned x2 upsampler of high-resolution requests by L1 reconstruction
alone, on the source image above the training size where there is one, else on the training image
itself (ZSSR-style pairs); ``optimizer.upsampler_iterations`` 0 leaves it out. Departures, each a setting: raw RGB patches
for the matching (the code's VGG features need downloaded weights), the training image's flips and
thin-plate-spline warps as the generator's prior data unless ``external_prior.generator`` names a
pretrained generator (the code inverts a downloaded BigGAN; here the user supplies one), and a
residual restoration. The generator phase keeps the code's collapse penalty (weight 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from sigctl.config.common import AdamSettings, RunSettings, Settings
from sigctl.core.external_generator import probe_generator
from sigctl.core.models.petsgan import petsgan_layout
from sigctl.core.models.petsgan_networks import Similarity
from sigctl.core.paths import sha256_of
from sigctl.core.scales import PyramidLayout, fit_exactly
from sigctl.errors import SettingsError

MULTIPLE = 8  # the restoration's factor: sides of the training image are multiples of it
MAX_JITTERS = 2000  # with mirrors, warps and copies ~6000 low-resolution images: 300 MB at 512 px, held in checkpoints


class PetsGANSizeSettings(Settings):
    # At most 512: the transfer compares every query patch with every reference patch at once (a
    # 2048 px request against a 512 px model's 2 x 58 x 58 patches is 65k x 6.7k similarities, 1.7 GB).
    max_size: int = Field(256, ge=16, le=512, description="Longer side of the training image, px (sides then rounded to multiples of 8; at most 512).")
    upsampler_max_size: int = Field(
        1024, ge=16, le=2048,
        description="Longer side of the upsampler's targets, px: the source image fitted to it when it is larger than the training size "
                    "(the targets are it and its halvings down to the training size); a smaller source trains on the training image itself.",
    )
    upsampler_crop: int = Field(128, ge=8, le=512, description="Side of the random target crops of the upsampler phase, px (bounds its memory: batch x crop^2).")


class PetsGANNetworkSettings(Settings):
    generator_channels: int = Field(64, ge=1, description="Channels of the prior generator's first conv.")
    generator_hidden: int = Field(128, ge=1, description="Channels of the prior generator's three InstanceNorm blocks.")
    patch_size: int = Field(7, ge=1, le=15, description="Side of the matched patches, px (odd; the code's 7).")
    similarity: Similarity = Field("l2", description="l2: Euclidean nearest raw RGB patch (GPNN's, the default); cosine: the code's measure.")
    temperature: float = Field(0.01, gt=0, description="Softmax temperature of the soft assignment (its gradient trains G through the transfer).")
    restoration_channels: int = Field(64, ge=1, description="Channels of the restoration network.")
    restoration_blocks: int = Field(4, ge=0, description="Conv blocks of the restoration network before its three x2 PixelShuffles.")
    restoration_residual: bool = Field(True, description="Restoration = bilinear 8x + learned detail (a departure: faster start on a CPU budget).")
    upsampler_channels: int = Field(64, ge=1, description="Channels of the learned x2 upsampler (bilinear x2 + learned detail, run once for 2x, twice for 4x).")
    upsampler_blocks: int = Field(2, ge=0, description="Conv blocks of the upsampler before its x2 PixelShuffle.")
    discriminator_channels: int = Field(64, ge=1, description="Channels of both discriminators.")

    @field_validator("patch_size")
    @classmethod
    def _odd_patch(cls, value: int) -> int:
        if value % 2 == 0:
            raise ValueError(f"the patch size must be odd (every pixel is a patch centre), got {value}")
        return value


class PetsGANOptimizerSettings(AdamSettings):
    iterations_per_phase: int = Field(5000, ge=1, description="Iterations of each of the three phases (generator, restoration, joint).")
    upsampler_iterations: int = Field(
        2000, ge=0, description="Iterations of the fourth phase, the high-resolution upsampler (0: no upsampler; UPSCALE requests are then refused)."
    )
    batch_size: int = Field(4, ge=1, le=64, description="Samples per iteration (prior images, fakes, restoration crops).")
    discriminator_steps: int = Field(1, ge=1, description="Discriminator updates per iteration.")
    generator_steps: int = Field(1, ge=1, description="Generator updates per iteration.")


class PetsGANLossSettings(Settings):
    prior_gradient_penalty_weight: float = Field(10.0, ge=0, description="WGAN-GP weight of the generator phase (the code's DEPNet).")
    prior_reconstruction_weight: float = Field(50.0, ge=0, description="Weight of the generator phase's reconstruction MSE (fixed noise -> the low-resolution image).")
    collapse_penalty_weight: float = Field(
        1.0, ge=0, description="Weight of the generator phase's collapse penalty -|D(G(z1)) - D(G(z2))| (paper eq. 6, the code's weight 1; 0 = off)."
    )
    restoration_weight: float = Field(100.0, ge=0, description="Weight of the joint phase's restoration L1 (hinge loss, no gradient penalty, beside it).")
    restoration_input_noise: float = Field(0.05, ge=0, description="Std of the noise added to the low-resolution input while training the restoration.")
    prior_warps: int = Field(8, ge=0, le=256, description="Thin-plate-spline warps of the image (and of its mirror) in the generator's prior data (with an external prior, external_prior.warp_share sets their number).")
    warp_strength: float = Field(0.1, ge=0, le=0.5, description="Std of the warps' control-point shifts, in units of the half side.")


class PetsGANExternalPriorSettings(Settings):
    """The generator phase's external prior: inversion of the training image into a pretrained
    generator, then jitters around the inverted latent (the code's BigGAN/inversion.py and RunJitter.py)."""

    generator: str | None = Field(None, description="Path of the pretrained generator (TorchScript, torch.export *.pt2 or ONNX *.onnx; see sigctl.core.external_generator); None = the internal prior alone.")
    generator_sha256: str | None = Field(None, description="sha256 of that file, filled in when the run starts; a resume refuses a different file.")
    select_draws: int = Field(500, ge=1, le=10000, description="Random latents scored before the gradient steps; the best starts the inversion (the code's 500).")
    select_std: float = Field(0.3, gt=0, description="Std of those latents (the code's 0.3).")
    inversion_iterations: tuple[int, int, int] = Field((125, 125, 100), description="Adam steps on the latent in each of three stages (the code's 125, 125, 100).")
    inversion_lrs: tuple[float, float, float] = Field((0.1, 0.01, 0.0002), description="Adam learning rate of each stage (the code's).")
    likelihood_weight: float = Field(0.02, ge=0, description="Weight of the latent's prior term mean(z^2 / 2) beside the pixel MSE (the code's 0.02).")
    jitter_stds: tuple[float, ...] = Field((0.1, 0.2, 0.3, 0.4, 0.5), min_length=1, max_length=16, description="Stds of the jitters z* + std x N(0, I) (the code's).")
    jitters_per_std: int = Field(100, ge=1, le=1000, description="Jitters drawn at each std (the code's 100).")
    generator_batch: int = Field(16, ge=1, le=64, description="Latents per call of the generator (bounds its memory).")
    warp_share: float = Field(0.3, ge=0, lt=1, description="Share of warps of the image among the jitters (and their mirrors) and the warps: the code's mix_ratio 0.3.")
    image_copies: int = Field(25, ge=0, le=1000, description="Copies of the low-resolution image, and of its mirror, added to the prior data (the code's 25).")

    @field_validator("inversion_iterations")
    @classmethod
    def _bounded_iterations(cls, value: tuple[int, int, int]) -> tuple[int, int, int]:
        if min(value) < 0 or sum(value) > 20000:
            raise ValueError(f"inversion iterations must be >= 0 and at most 20000 in all, got {list(value)}")
        return value

    @model_validator(mode="after")
    def _bounded_jitters(self) -> "PetsGANExternalPriorSettings":
        count = len(self.jitter_stds) * self.jitters_per_std
        if count > MAX_JITTERS:
            raise ValueError(f"{len(self.jitter_stds)} stds x {self.jitters_per_std} jitters = {count} images; at most {MAX_JITTERS} (the code draws 500)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _pin_the_file(cls, values: Any) -> Any:
        """A new run names its generator by absolute path and hash, so a resume uses exactly that file."""
        if isinstance(values, dict) and values.get("generator") is not None and values.get("generator_sha256") is None:
            if not str(values["generator"]).strip():
                raise ValueError("the external prior generator path is empty; name a TorchScript, .pt2 or ONNX file")
            try:
                path = Path(values["generator"]).expanduser().resolve()
            except (OSError, RuntimeError) as error:  # a symlink loop raises RuntimeError in Python 3.11
                raise ValueError(f"external prior generator {values['generator']}: {error}") from None
            probe_generator(path)  # exists, bounded, loads, keeps the signature: before any hashing or training
            values = {**values, "generator": str(path), "generator_sha256": sha256_of(path)}
        return values

    def check_generator(self) -> None:
        """Refuse a run whose generator file is gone or differs from the one it started with."""
        if self.generator is None:
            return
        path = Path(self.generator)
        if not path.is_file():
            raise SettingsError(f"this run's external prior generator {path} (sha256 {self.generator_sha256}) is missing; put that file back to train")
        if sha256_of(path) != self.generator_sha256:
            raise SettingsError(f"this run's external prior generator {path} changed since the run started (sha256 was {self.generator_sha256}); put the original file back")
        probe_generator(path)


class PetsGANSettings(RunSettings):
    """PetsGAN: an end-to-end generator at 1/8 size, an internal patch prior, a learned 8x restoration."""

    recipe: Literal["petsgan"] = Field("petsgan", description="Training recipe.")
    max_size_path: ClassVar[tuple[str, ...]] = ("size", "max_size")
    iterations_path: ClassVar[tuple[str, ...]] = ("optimizer", "iterations_per_phase")
    size: PetsGANSizeSettings = PetsGANSizeSettings()
    network: PetsGANNetworkSettings = PetsGANNetworkSettings()
    optimizer: PetsGANOptimizerSettings = PetsGANOptimizerSettings()
    loss: PetsGANLossSettings = PetsGANLossSettings()
    external_prior: PetsGANExternalPriorSettings = PetsGANExternalPriorSettings()

    def fit_size(self, source_height: int, source_width: int) -> tuple[int, int]:
        """The training size: longer side at most max_size, each side then rounded to the nearest multiple of 8."""
        height, width = fit_exactly(source_height, source_width, self.size.max_size)
        return tuple(max(MULTIPLE, (side + MULTIPLE // 2) // MULTIPLE * MULTIPLE) for side in (height, width))  # nearest, halves up

    def high_resolution_size(self, source_height: int, source_width: int) -> tuple[int, int] | None:
        """The upsampler's target image: the source fitted to ``size.upsampler_max_size`` when that is larger
        than the training size; None when the phase is off or the source is no larger (internal learning)."""
        if self.optimizer.upsampler_iterations == 0:
            return None
        size = fit_exactly(source_height, source_width, self.size.upsampler_max_size)
        return size if max(size) > max(self.fit_size(source_height, source_width)) else None

    def plan_pyramid(self, source_height: int, source_width: int) -> PyramidLayout:
        self.external_prior.check_generator()  # a plan (new run, resume, dry run) needs the generator it names
        layout = petsgan_layout(*self.fit_size(source_height, source_width))
        low_h, low_w = layout.sizes[0]
        k = self.network.patch_size
        if min(low_h, low_w) < k:
            raise SettingsError(
                f"the low-resolution image is {low_h}x{low_w} px (1/8 of the training size), smaller than the {k}x{k} px "
                f"patches it is matched with: raise size.max_size to at least {-(-MULTIPLE * k * max(source_height, source_width) // min(source_height, source_width))} "
                f"(on an image at least that large; smaller ones are never enlarged) or lower network.patch_size"
            )
        return layout
