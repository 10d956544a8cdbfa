"""A training-free baseline: GPNN-style coarse-to-fine nearest-neighbour patch synthesis.

What a user could run instead of training any GAN ("Drop the GAN", Granot et al., CVPR 2022),
written here from the paper's description: an image pyramid of the training image (factor 3/4,
down to a shorter side of ``coarsest``); the output starts as the coarsest real image plus noise;
at every level, a few EM passes replace each 7x7 patch of the current output by the real patch
whose *blurred* version (the level below, upsampled: what an upsampled output looks like) is
nearest, with GPNN's completeness normalisation (distances divided by alpha + each key's nearest
distance to any query, so every real patch is used about once), and overlapping patches are
averaged back into an image; the result is upsampled to the next level. Seconds per sample on a
CPU at 64 px; torch on a GPU at 250 px.

    .venv/bin/python bench/gpnn.py examples/images/train/balloons.png --max-size 64 --num 4 --out out/gpnn
"""

from __future__ import annotations

import argparse
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from sigctl.core.pixels import resize, to_network, to_uint8

MAX_DISTANCE_ENTRIES = 1 << 25  # query x key distances computed at a time (128 MB of float32)


@dataclass(frozen=True)
class GPNNSettings:
    """The paper's defaults, except where a CPU budget asks for fewer passes."""

    patch_size: int = 7
    scale_factor: float = 0.75  # between pyramid levels
    coarsest: int = 14  # shorter side of the coarsest level, px (below it, 7x7 patches hold no layout)
    alpha: float = 0.005  # completeness: smaller spreads the use of real patches more evenly
    noise: float = 1.5  # std of the noise added to the coarsest level, in [-1, 1] units (0.75 in [0, 1])
    passes: int = 10  # EM passes per level


def level_sizes(height: int, width: int, settings: GPNNSettings) -> list[tuple[int, int]]:
    """Sizes from the coarsest level to the full size."""
    levels = max(1, math.ceil(math.log(settings.coarsest / min(height, width)) / math.log(settings.scale_factor)) + 1)
    return [
        (max(settings.patch_size, round(height * settings.scale_factor ** (levels - 1 - n))), max(settings.patch_size, round(width * settings.scale_factor ** (levels - 1 - n))))
        for n in range(levels)
    ]


def generate(real: np.ndarray, num: int, seed: int = 0, settings: GPNNSettings = GPNNSettings(), device: str = "cpu") -> np.ndarray:
    """``num`` samples (N x H x W x 3 uint8) at the size of ``real`` (H x W x 3 uint8); sample i uses seed + i."""
    network = to_network(real)
    sizes = level_sizes(real.shape[0], real.shape[1], settings)
    reals = [torch.from_numpy(np.ascontiguousarray(resize(network, h, w))).to(device) for h, w in sizes]
    # Keys: each level's real image as an upsampled output would see it (the level below, upsampled).
    blurred = [reals[0]] + [torch.from_numpy(np.ascontiguousarray(resize(resize(network, *sizes[n - 1]), *sizes[n]))).to(device) for n in range(1, len(sizes))]
    samples = []
    for index in range(num):
        generator = torch.Generator().manual_seed(seed + index)
        image = reals[0] + settings.noise * torch.randn(reals[0].shape, generator=generator).to(device)
        for level, (height, width) in enumerate(sizes):
            if level > 0:
                image = torch.from_numpy(np.ascontiguousarray(resize(image.cpu().numpy(), height, width))).to(device)
            keys, values = patches(blurred[level], settings.patch_size), patches(reals[level], settings.patch_size)
            for _ in range(settings.passes):
                image = fold(values[nearest(patches(image, settings.patch_size), keys, settings.alpha)], height, width, settings.patch_size)
        samples.append(to_uint8(image.clamp(-1, 1).cpu().numpy()))
    return np.stack(samples)


def patches(image: torch.Tensor, size: int) -> torch.Tensor:
    """3 x H x W -> (positions, 3 * size * size), stride 1."""
    return F.unfold(image[None], size)[0].T.contiguous()


def fold(rows: torch.Tensor, height: int, width: int, size: int) -> torch.Tensor:
    """Patches back into a 3 x H x W image, overlapping values averaged."""
    total = F.fold(rows.T[None], (height, width), size)[0]
    counts = F.fold(torch.ones_like(rows).T[None], (height, width), size)[0]
    return total / counts


def nearest(queries: torch.Tensor, keys: torch.Tensor, alpha: float) -> torch.Tensor:
    """For each query, the key minimising D(q, k) / (alpha + min over queries of D(q', k))."""
    chunk = max(1, MAX_DISTANCE_ENTRIES // len(keys))
    key_norms = (keys * keys).sum(1)

    def distances(start: int) -> torch.Tensor:
        block = queries[start : start + chunk]
        return ((block * block).sum(1, keepdim=True) - 2 * block @ keys.T + key_norms).clamp_min(0)

    closest = torch.full((len(keys),), float("inf"), device=keys.device)
    for start in range(0, len(queries), chunk):
        closest = torch.minimum(closest, distances(start).min(0).values)
    normaliser = alpha + closest
    return torch.cat([(distances(start) / normaliser).argmin(1) for start in range(0, len(queries), chunk)])


def main() -> None:
    from sigctl.core.images import save_png
    from sigctl.core.scales import fit_to_max_size
    from sigctl.core.images import load_rgb

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", type=Path)
    parser.add_argument("--max-size", type=int, default=64, help="longer side of the output, px")
    parser.add_argument("--num", type=int, default=4)
    parser.add_argument("--passes", type=int, default=GPNNSettings.passes)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--out", type=Path, default=Path("out/gpnn"))
    args = parser.parse_args()
    rgb = load_rgb(args.image)
    height, width = fit_to_max_size(*rgb.shape[:2], args.max_size)
    real = to_uint8(resize(to_network(rgb), height, width))
    started = time.perf_counter()
    images = generate(real, args.num, settings=GPNNSettings(passes=args.passes), device=args.device)
    seconds = time.perf_counter() - started
    args.out.mkdir(parents=True, exist_ok=True)
    for index, image in enumerate(images):
        save_png(args.out / f"{index:03d}.png", image)
    print(f"{args.num} samples of {height}x{width} in {seconds:.1f} s ({seconds / args.num:.2f} s each) -> {args.out}")


if __name__ == "__main__":
    main()
