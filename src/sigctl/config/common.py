"""What every recipe's settings share: the base model, the run-level fields, and the loss weights."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RunSettings(Settings):
    """Fields of every recipe's settings that are about the run, not the algorithm."""

    seed: int = Field(0, ge=0, description="Seed of the training randomness (weights, noise, reconstruction noise).")
    device: Literal["auto", "cpu", "cuda"] = Field("auto", description="Where to train; auto picks cuda when available.")
    precision: Literal["fp32", "bf16"] = Field(
        "fp32",
        description=(
            "Arithmetic of the training steps. fp32: float32 throughout. bf16: bfloat16 autocast of convolutions and matrix "
            "products (losses, statistics, optimiser and weights stay float32); used only on a CPU with AVX-512 BF16/AMX or a "
            "GPU with bf16, else the run trains in fp32 with a warning. See the README's CPU speed section for what it changes."
        ),
    )
    report_samples: int = Field(8, ge=1, le=64, description="Random samples in the samples.png grid written at the end of training.")
    checkpoint_interval_seconds: float = Field(
        300.0,
        ge=0,
        description=(
            "At most this much work is lost when a run is killed, s: inside a stage a checkpoint is written at the first log "
            "window after this long since the last (one is always written after each stage); 0 = at every log window."
        ),
    )

    def high_resolution_size(self, source_height: int, source_width: int) -> tuple[int, int] | None:
        """Size of a copy of the source image, larger than the training size, that the recipe also
        trains on (PetsGAN's upsampler targets); None: the recipe needs none."""
        return None


class LossSettings(Settings):
    gradient_penalty_weight: float = Field(0.1, ge=0, description="WGAN-GP weight.")
    reconstruction_weight: float = Field(10.0, ge=0, description="Weight alpha of the reconstruction MSE (100 for super-resolution).")
    noise_amplitude_scale: float = Field(
        0.1, gt=0, description="Noise amplitude of a finer stage = this x RMSE between the reconstruction and the real image."
    )


class AdamSettings(Settings):
    """Adam and its one learning-rate drop, as both recipes' reference code use them."""

    generator_lr: float = Field(5e-4, gt=0, description="Adam learning rate of the generator(s).")
    discriminator_lr: float = Field(5e-4, gt=0, description="Adam learning rate of the discriminator(s).")
    betas: tuple[float, float] = Field((0.5, 0.999), description="Adam betas.")
    lr_decay_at: float = Field(0.8, gt=0, le=1.0, description="Fraction of a stage's iterations after which the lr is multiplied by lr_decay_factor.")
    lr_decay_factor: float = Field(0.1, gt=0, le=1.0, description="Learning-rate multiplier applied at lr_decay_at.")
    discriminator_steps: int = Field(3, ge=1, description="Discriminator updates per iteration.")
    generator_steps: int = Field(3, ge=1, description="Generator updates per iteration (seed 003 finds 1 nearly as good).")

    @field_validator("betas")
    @classmethod
    def _adam_betas(cls, value: tuple[float, float]) -> tuple[float, float]:
        if not all(0.0 <= beta < 1.0 for beta in value):
            raise ValueError(f"Adam betas must each be in [0, 1), got {list(value)}")
        return value
