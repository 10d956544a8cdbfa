"""Seeded noise that is a pure function of (seed, scale, channel, y, x).

torch.randn depends on the device, the library version and how many numbers were drawn before;
a counter-based hash depends on nothing but its inputs. The same seed therefore gives the same
noise at any batch size, in PyTorch, in the numpy serving runtime and on any machine.

Every step is exact integer arithmetic (mod 2**32 for the hash), followed by correctly rounded
float64 operations and one cast to float32, which IEEE 754 makes exact to the bit on every
platform. ``sigctl.core.torch_noise`` makes the same bits with torch, on the device that needs them.
"""

from __future__ import annotations

import numpy as np

_MASK32 = 0xFFFFFFFF
UNIFORMS_PER_VALUE = 4  # Irwin-Hall sum of 4 uniforms: close enough to normal for GAN noise
UNIFORM_BITS = 24
# Irwin-Hall(4) of 24-bit integers has mean 2 * 2**24 and variance (4/12) * 2**48.
CENTER = UNIFORMS_PER_VALUE * (1 << UNIFORM_BITS) // 2
TO_UNIT_NORMAL = float(np.sqrt(12.0 / UNIFORMS_PER_VALUE) / (1 << UNIFORM_BITS))  # a float64
HASH_MULTIPLIERS = (0x7FEB352D, 0x846CA68B)  # lowbias32's two rounds

MAX_SEED = (1 << 63) - 1


def hash32(x):
    """lowbias32 integer hash of a Python int or a numpy integer array (values < 2**32)."""
    if isinstance(x, np.ndarray):
        # numpy's uint32 arithmetic wraps mod 2**32 by definition: the same values as below, in 5 passes.
        x = x.astype(np.uint32)
        x ^= x >> np.uint32(16)
        x *= np.uint32(HASH_MULTIPLIERS[0])
        x ^= x >> np.uint32(15)
        x *= np.uint32(HASH_MULTIPLIERS[1])
        x ^= x >> np.uint32(16)
        return x
    x ^= x >> 16
    x = (x * HASH_MULTIPLIERS[0]) & _MASK32
    x ^= x >> 15
    x = (x * HASH_MULTIPLIERS[1]) & _MASK32
    return x ^ (x >> 16)


def _stream_key(seed: int, scale: int, channel: int, draw: int) -> int:
    key = hash32(seed & _MASK32)
    for part in (seed >> 32, scale, channel, draw):
        key = hash32(key ^ (part & _MASK32))
    return key


def check_seed(seed: int) -> None:
    if not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be in [0, 2**63), got {seed}")


def draw_keys(seed: int, scale: int, channel: int) -> list[int]:
    """The 32-bit keys of one channel's uniform draws (Python ints; the per-pixel hashing builds on them)."""
    return [_stream_key(seed, scale, channel, draw) for draw in range(UNIFORMS_PER_VALUE)]


def seeded_normal(seed: int, scale: int, channels: int, height: int, width: int) -> np.ndarray:
    """Approximately standard-normal noise of shape (channels, height, width), float32.

    Args:
        seed: 0 <= seed < 2**63.
        scale: pyramid scale index; each scale gets independent noise.
        channels, height, width: the shape. Values at (c, y, x) do not depend on the shape, so a
            larger request extends a smaller one instead of reshuffling it.
    """
    check_seed(seed)
    rows = np.arange(height, dtype=np.uint32)
    cols = np.arange(width, dtype=np.uint32)
    out = np.empty((channels, height, width), dtype=np.float32)
    for channel in range(channels):
        # All draws of a channel at once: (draws, H, W), summed into one Irwin-Hall value per pixel.
        keys = np.array(draw_keys(seed, scale, channel), dtype=np.uint32)
        row_keys = hash32(keys[:, None] ^ rows[None, :])
        uniforms = hash32(row_keys[:, :, None] ^ cols[None, None, :]) >> np.uint32(32 - UNIFORM_BITS)
        total = uniforms.sum(axis=0, dtype=np.int64)
        out[channel] = ((total - CENTER).astype(np.float64) * np.float64(TO_UNIT_NORMAL)).astype(np.float32)
    return out


def scale_noise(seed: int, scale: int, height: int, width: int, single_channel: bool) -> np.ndarray:
    """Noise for one scale as (3, H, W); the coarsest scale repeats one channel over RGB (SinGAN)."""
    if single_channel:
        return np.repeat(seeded_normal(seed, scale, 1, height, width), 3, axis=0)
    return seeded_normal(seed, scale, 3, height, width)
