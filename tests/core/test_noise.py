import hashlib

import numpy as np
import pytest

from sigctl.core.noise import hash32, scale_noise, seeded_normal


def test_same_inputs_same_bits_and_other_seeds_differ():
    a = seeded_normal(7, 2, 3, 40, 50)
    assert np.array_equal(a, seeded_normal(7, 2, 3, 40, 50))
    assert not np.array_equal(a, seeded_normal(8, 2, 3, 40, 50))
    assert not np.array_equal(a, seeded_normal(7, 3, 3, 40, 50))


def test_values_do_not_depend_on_the_requested_shape():
    big = seeded_normal(3, 1, 3, 64, 80)
    small = seeded_normal(3, 1, 3, 20, 30)
    assert np.array_equal(big[:, :20, :30], small)


def test_noise_is_roughly_standard_normal_and_uncorrelated():
    values = seeded_normal(11, 0, 3, 200, 200)
    assert abs(values.mean()) < 0.02
    assert abs(values.std() - 1.0) < 0.02
    assert abs(np.corrcoef(values[0, :, 1:].ravel(), values[0, :, :-1].ravel())[0, 1]) < 0.02
    assert abs(np.corrcoef(values[0].ravel(), values[1].ravel())[0, 1]) < 0.02


def test_large_seeds_work_and_negative_seeds_are_rejected():
    assert np.isfinite(seeded_normal(2**63 - 1, 0, 1, 4, 4)).all()
    with pytest.raises(ValueError):
        seeded_normal(-1, 0, 1, 4, 4)


def test_hash_matches_reference_lowbias32_on_ints_and_arrays():
    def reference(x):  # plain 32-bit arithmetic, as in the published lowbias32
        x ^= x >> 16
        x = (x * 0x7FEB352D) & 0xFFFFFFFF
        x ^= x >> 15
        x = (x * 0x846CA68B) & 0xFFFFFFFF
        return x ^ (x >> 16)

    inputs = [0, 1, 12345, 0xFFFFFFFF, 0x80000000, 987654321]
    assert [hash32(x) for x in inputs] == [reference(x) for x in inputs]
    array = np.array(inputs, dtype=np.int64)
    assert hash32(array).tolist() == [reference(x) for x in inputs]


def test_noise_bits_are_pinned():
    # Reproducibility is a promise across versions: changing the noise changes every sample.
    digest = hashlib.sha256(scale_noise(42, 3, 17, 23, single_channel=False).tobytes()).hexdigest()
    assert digest == PINNED_DIGEST


def test_coarsest_noise_repeats_one_channel():
    noise = scale_noise(5, 0, 10, 12, single_channel=True)
    assert np.array_equal(noise[0], noise[1]) and np.array_equal(noise[0], noise[2])


PINNED_DIGEST = "8ea084f41502dbdd59d4e149202d5c6f8fc8187c152f4e737ff55481a7db05de"
