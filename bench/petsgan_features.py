"""Which features should PetsGAN's patch transfer match on? Raw RGB against features learned in the run.

The code matches on VGG conv1 features (downloaded weights, unavailable offline). The offline
choices are raw RGB patches (GPNN's, sigctl's default) and features the run itself learned. The
run's features here are the restoration network's first convolution and ReLU: it is trained on
this very image, and its input is the low-resolution image the transfer works on.

Each trained PetsGAN run is sampled three ways, from the same generator images (same seeds):
- ``rgb-l2``: the artifact's own transfer (Euclidean nearest raw RGB patch);
- ``learned-l2``: the nearest patch in the learned feature space, Euclidean;
- ``learned-cosine``: the same by cosine similarity (the code's measure, on its features).
Every variant copies raw RGB reference patches and folds them back the same way; only the choice
of patch differs. The restoration then runs unchanged, and the samples are scored with the code of
``sigctl eval``. This measures the choice at sampling time on one trained model. A run trained
with learned features from the start might differ.

    .venv/bin/python bench/petsgan_features.py RUN [RUN ...] [--num 20]

RUN: a PetsGAN run folder, e.g. bench/results/quality-cpu128/runs/petsgan-balloons.
"""

from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.console import Console
from rich.table import Table

from sigctl import artifact
from sigctl.core.model import NoiseSpec
from sigctl.core.models.petsgan_networks import fold_patches, padded_patches, similarity
from sigctl.core.stages import unit_noise
from sigctl.metrics import score_samples

VARIANTS = ("rgb-l2", "learned-l2", "learned-cosine")
COLUMNS = (("swd_mean", 3), ("sifid_64", 3), ("sifid_192", 2), ("pixel_diversity", 3), ("copy_share", 3))


def low_resolution_image(model) -> torch.Tensor:
    """1 x 3 x h x w: the training image's low-resolution copy, folded back from its stored patches (the first half)."""
    k = model.config.patch_size
    height, width = model.config.sizes[0]
    own = model.reference[: model.reference.shape[0] // 2]  # L x 3kk, the unmirrored image's valid patches
    columns = own.t()[None]  # 1 x 3kk x L
    ones = torch.ones_like(columns)
    return F.fold(columns, (height, width), k) / F.fold(ones, (height, width), k)


def learned_features(model, image: torch.Tensor) -> torch.Tensor:
    """The restoration network's first convolution and ReLU: features the run learned."""
    first_conv, activation = model.restoration.body[0], model.restoration.body[1]
    return activation(first_conv(image))


def transfer(model, image: torch.Tensor, variant: str) -> torch.Tensor:
    if variant == "rgb-l2":
        return model.transfer(image)
    k = model.config.patch_size
    low = low_resolution_image(model)
    both = torch.cat([low, low.flip(3)])
    keys = padded_patches(learned_features(model, both), k)  # 2 x (hw) x Ckk, patches centred on each pixel
    rgb = padded_patches(both, k)  # the RGB patches those keys stand for
    keys, rgb = keys.reshape(-1, keys.shape[2]), rgb.reshape(-1, rgb.shape[2])
    scores = similarity(padded_patches(learned_features(model, image), k), keys, "cosine" if variant == "learned-cosine" else "l2")
    return fold_patches(rgb[scores.argmax(dim=2)], image.shape, k)


@torch.no_grad()
def samples(model, variant: str, num: int) -> list[np.ndarray]:
    height, width = model.config.sizes[0]
    images = []
    for seed in range(num):
        noise = torch.from_numpy(unit_noise(NoiseSpec(1), seed, 0, height, width))[None]
        out = model.restoration(transfer(model, model.generator(noise), variant))
        images.append(((out[0].permute(1, 2, 0).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy())
    return images


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--num", type=int, default=20, help="samples scored per variant")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    console = Console(width=max(Console().width, 120))
    table = Table(title=f"PetsGAN patch matching: raw RGB vs features learned in the run ({args.num} samples each)")
    for column in ("run", "matching", "SWD mean", "SIFID 64", "SIFID 192", "diversity", "copy share"):
        table.add_column(column, justify="left" if column in ("run", "matching") else "right")
    per_variant: dict[str, list[float]] = {variant: [] for variant in VARIANTS}
    for run in args.runs:
        loaded = artifact.load(run)
        if loaded.manifest.model.class_name != "petsgan":
            parser.error(f"{run} is a {loaded.manifest.model.class_name} run, not petsgan")
        model = loaded.model.eval()
        real = loaded.executor().reference()
        for variant in VARIANTS:
            summary = score_samples(real, samples(model, variant, args.num)).summary()
            per_variant[variant].append(summary.get("swd_mean"))
            table.add_row(run.name, variant, *["n/a" if summary.get(key) is None else f"{summary[key]:.{digits}f}" for key, digits in COLUMNS])
    console.print(table)
    base = statistics.median(per_variant["rgb-l2"])
    for variant in VARIANTS[1:]:
        console.print(f"{variant}: median SWD {statistics.median(per_variant[variant]):.3f}, {statistics.median(per_variant[variant]) / base:.2f}x rgb-l2's")


if __name__ == "__main__":
    main()
