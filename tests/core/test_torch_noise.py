"""The torch port of the hash noise gives the numpy function's bits, on CPU everywhere and on CUDA
where there is one (``gpu``-marked)."""

import numpy as np
import pytest
import torch

from sigctl.core import noise, torch_noise
from sigctl.core.model import NoiseSpec
from sigctl.core.stages import stacked_unit_noise

SEEDS = [0, 1, 7, 12345, 2**31 - 1, 2**31, 2**32 - 1, 2**32, 2**32 + 1, 2**40 + 3, 2**62 + 5, noise.MAX_SEED]
# (scale, channels, height, width): odd sizes, one row, one column, a stream index above 255.
SHAPES = [(0, 1, 1, 1), (1, 3, 17, 23), (4, 2, 1, 31), (2, 3, 29, 1), (9, 64, 5, 7), (300, 3, 33, 65)]
HASH_INPUTS = [0, 1, 2, 0xFFFF, 0x10000, 12345, 987654321, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFE, 0xFFFFFFFF]


def assert_same_bits(numpy_values: np.ndarray, torch_values: torch.Tensor) -> None:
    assert torch_values.dtype == torch.float32 and tuple(torch_values.shape) == numpy_values.shape
    assert torch_values.cpu().numpy().tobytes() == numpy_values.tobytes()


def check_device(device: str) -> None:
    inputs = HASH_INPUTS + [int(v) for v in np.random.default_rng(0).integers(0, 2**32, 1000)]
    assert torch_noise.hash32(torch.tensor(inputs, device=device)).tolist() == noise.hash32(np.array(inputs, np.uint32)).tolist()
    for seed in SEEDS:
        for scale, channels, height, width in SHAPES:
            expected = noise.seeded_normal(seed, scale, channels, height, width)
            assert_same_bits(expected, torch_noise.seeded_normal(seed, scale, channels, height, width, device))
    for spec in (NoiseSpec(3), NoiseSpec(3, shared_channel=True), NoiseSpec(64, margin=3)):
        seeds = [5, 2**32 + 9, noise.MAX_SEED - 1]
        assert_same_bits(stacked_unit_noise(spec, seeds, 4, 11, 19), torch_noise.unit_noise(spec, seeds, 4, 11, 19, device))
        assert_same_bits(stacked_unit_noise(spec, seeds, 4, 11, 19), torch_noise.unit_noise_on(spec, seeds, 4, 11, 19, torch.device(device)))
    for single in (True, False):
        expected = noise.scale_noise(2**33 + 1, 2, 21, 13, single)
        assert_same_bits(expected, torch_noise.scale_noise(2**33 + 1, 2, 21, 13, single, device))
        assert_same_bits(expected, torch_noise.scale_noise_on(2**33 + 1, 2, 21, 13, single, torch.device(device)))


def test_torch_on_cpu_gives_the_numpy_bits_for_every_seed_scale_shape_and_channel():
    check_device("cpu")


def test_the_pinned_noise_comes_out_of_torch_too():
    # noise.scale_noise(42, 3, 17, 23) is pinned by test_noise; the port must give exactly those bytes.
    assert_same_bits(noise.scale_noise(42, 3, 17, 23, single_channel=False), torch_noise.scale_noise(42, 3, 17, 23, False))


def test_the_32_bit_products_wrap_as_uint32_does():
    # The hash's products reach 2**64; the port splits them so int64 never overflows. Computed by hand:
    # 0xFFFFFFFF * 0x7FEB352D mod 2**32 = -0x7FEB352D mod 2**32 = 0x8014CAD3.
    assert torch_noise._multiply32(torch.tensor([0xFFFFFFFF]), 0x7FEB352D).item() == 0x8014CAD3
    assert torch_noise._multiply32(torch.tensor([0x10000]), 0x846CA68B).item() == 0xA68B0000


def test_large_requests_run_in_passes_with_the_same_bits(monkeypatch):
    monkeypatch.setattr(torch_noise, "_PASS_ELEMENTS", 4 * 7 * 9)  # one channel's draws per pass
    assert_same_bits(stacked_unit_noise(NoiseSpec(3), [1, 2], 0, 7, 9), torch_noise.unit_noise(NoiseSpec(3), [1, 2], 0, 7, 9))
    monkeypatch.setattr(torch_noise, "_PASS_ELEMENTS", 1)  # smaller than one channel: still one channel a pass
    assert_same_bits(noise.seeded_normal(3, 1, 5, 6, 4), torch_noise.seeded_normal(3, 1, 5, 6, 4))


def test_seeds_out_of_range_are_refused_as_numpy_refuses_them():
    for seed in (-1, noise.MAX_SEED + 1):
        with pytest.raises(ValueError, match="seed must be in"):
            torch_noise.seeded_normal(seed, 0, 1, 2, 2)
        with pytest.raises(ValueError, match="seed must be in"):
            torch_noise.unit_noise(NoiseSpec(3), [seed], 0, 2, 2)


@pytest.mark.gpu
def test_cuda_gives_the_numpy_bits():
    check_device("cuda")
