"""The seeded hash noise of ``sigctl.core.noise``, made with torch on the device that uses it.

Same bits as the numpy function, on CPU and CUDA: the hash is exact integer arithmetic and the
float steps are the same correctly rounded operations (an exact int64 -> float64 conversion, one
float64 multiply, one float64 -> float32 cast). torch has no uint32 arithmetic on every device, so
the 32-bit hash runs in int64 with masking; a 32 x 32-bit product does not fit in int64, so it is
taken in two 16-bit halves (every partial product stays below 2**49).

A torch-side module: ``sigctl.core.noise`` stays numpy-only for the torch-free serving runtime.
On a CPU the numpy function is the faster maker of the same bits (its uint32 arithmetic moves half
the bytes of int64; measured on 2 loaded cores, 3 x 1024 x 1024: numpy 0.10 s, torch 2.6 s), so the
``*_on`` functions, which callers use, take numpy there and torch on any other device.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from sigctl.core import noise as host_noise
from sigctl.core import stages
from sigctl.core.model import NoiseSpec
from sigctl.core.noise import CENTER, HASH_MULTIPLIERS, TO_UNIT_NORMAL, UNIFORM_BITS, check_seed, draw_keys

_MASK32 = 0xFFFFFFFF
# int64 elements of hash work per pass (128 MB): large requests run in slices instead of at once.
_PASS_ELEMENTS = 1 << 24


def _multiply32(x: torch.Tensor, constant: int) -> torch.Tensor:
    """(x * constant) mod 2**32 for 0 <= x < 2**32, in int64 without overflow."""
    low, high = constant & 0xFFFF, constant >> 16
    # x * high * 2**16 mod 2**32 only keeps the low 16 bits of x * high.
    return (x * low + (((x * high) & 0xFFFF) << 16)) & _MASK32


def hash32(x: torch.Tensor) -> torch.Tensor:
    """lowbias32 of an int64 tensor of values in [0, 2**32): ``sigctl.core.noise.hash32``'s values."""
    x = x ^ (x >> 16)
    x = _multiply32(x, HASH_MULTIPLIERS[0])
    x = x ^ (x >> 15)
    x = _multiply32(x, HASH_MULTIPLIERS[1])
    return x ^ (x >> 16)


def _normals(keys: list[list[int]], height: int, width: int, device: torch.device) -> torch.Tensor:
    """len(keys) x H x W float32: one Irwin-Hall value per pixel from each row of draw keys."""
    key_rows = torch.tensor(keys, dtype=torch.int64, device=device)
    rows = torch.arange(height, dtype=torch.int64, device=device)
    cols = torch.arange(width, dtype=torch.int64, device=device)
    out = torch.empty((len(keys), height, width), dtype=torch.float32, device=device)
    per_pass = max(1, _PASS_ELEMENTS // (key_rows.shape[1] * height * width))
    for start in range(0, len(keys), per_pass):
        row_keys = hash32(key_rows[start : start + per_pass, :, None] ^ rows)
        uniforms = hash32(row_keys[..., None] ^ cols) >> (32 - UNIFORM_BITS)
        total = uniforms.sum(dim=1)
        out[start : start + per_pass] = ((total - CENTER).to(torch.float64) * TO_UNIT_NORMAL).to(torch.float32)
    return out


def seeded_normal(seed: int, scale: int, channels: int, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``sigctl.core.noise.seeded_normal`` as a (channels, height, width) float32 tensor on ``device``."""
    check_seed(seed)
    return _normals([draw_keys(seed, scale, channel) for channel in range(channels)], height, width, torch.device(device))


def scale_noise(seed: int, scale: int, height: int, width: int, single_channel: bool, device: torch.device | str = "cpu") -> torch.Tensor:
    """``sigctl.core.noise.scale_noise`` as a (3, H, W) tensor on ``device``."""
    if single_channel:
        return seeded_normal(seed, scale, 1, height, width, device).repeat(3, 1, 1)
    return seeded_normal(seed, scale, 3, height, width, device)


def unit_noise(noise: NoiseSpec, seeds: Sequence[int], stream: int, height: int, width: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """``sigctl.core.stages.unit_noise`` for each seed, stacked: N x C x (h + 2m) x (w + 2m) on ``device``."""
    _, noise_height, noise_width = noise.shape(height, width)
    drawn = 1 if noise.shared_channel else noise.channels
    for seed in seeds:
        check_seed(seed)
    keys = [draw_keys(seed, stream, channel) for seed in seeds for channel in range(drawn)]
    values = _normals(keys, noise_height, noise_width, torch.device(device)).view(len(seeds), drawn, noise_height, noise_width)
    return values.repeat(1, noise.channels, 1, 1) if noise.shared_channel else values


def scale_noise_on(seed: int, scale: int, height: int, width: int, single_channel: bool, device: torch.device) -> torch.Tensor:
    """``scale_noise`` on ``device``, made by numpy on a CPU (see the module docstring)."""
    if torch.device(device).type == "cpu":
        return torch.from_numpy(host_noise.scale_noise(seed, scale, height, width, single_channel))
    return scale_noise(seed, scale, height, width, single_channel, device)


def unit_noise_on(noise: NoiseSpec, seeds: Sequence[int], stream: int, height: int, width: int, device: torch.device) -> torch.Tensor:
    """``unit_noise`` on ``device``, made by numpy on a CPU (see the module docstring)."""
    if torch.device(device).type == "cpu":
        return torch.from_numpy(stages.stacked_unit_noise(noise, seeds, stream, height, width))
    return unit_noise(noise, seeds, stream, height, width, device)
