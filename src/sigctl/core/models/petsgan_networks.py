"""PetsGAN's networks (zhangzc21/PetsGAN; DESIGN.md "PetsGAN, as its paper and code do it").

- ``position_encoding``: 8 sinusoidal channels of the normalised (y, x) position, made from the
  size of the tensor it goes with (so one exported graph serves every size: the layout stretches
  with the output, which keeps an object centred);
- ``PriorGenerator`` (the code's DEPNet): 1-channel noise + the encoding, zero-padded once by 5 px,
  five unpadded 3x3 convs (InstanceNorm + ReLU inside), tanh;
- ``patch_transfer``: the internal prior's nearest-patch transfer against stored reference patches
  (similarity by one matrix product, argmax, gather, fold back averaging the overlaps), written with
  K x K shifted slices so it exports to ONNX opset 17 (no Im2Col/Col2Im);
- ``Restoration``: the 8x upscaler (conv blocks, then 3 x (conv, PixelShuffle x2)); with one
  doubling it is also the learned x2 upsampler of high-resolution requests;
- ``MultiScaleDiscriminator``: a head, then branches of dilation 1, 2, 3 whose maps are summed.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

POSITION_CHANNELS = 8  # sin and cos of y and x at 2 frequencies
GENERATOR_PAD = 5  # five unpadded 3x3 convs eat 5 px per side
Similarity = Literal["l2", "cosine"]


def position_encoding(like: torch.Tensor) -> torch.Tensor:
    """N x 8 x H x W: sin/cos(2^f pi c) for c the y and x position in [-1, 1] and f = 0, 1 (H, W, N of ``like``)."""
    height, width = like.shape[2], like.shape[3]
    ys = (torch.arange(height, dtype=like.dtype, device=like.device) + 0.5) / height * 2 - 1
    xs = (torch.arange(width, dtype=like.dtype, device=like.device) + 0.5) / width * 2 - 1
    grid_y = ys[:, None] + 0 * xs[None, :]
    grid_x = xs[None, :] + 0 * ys[:, None]
    channels = []
    for frequency in (1.0, 2.0):
        for grid in (grid_y, grid_x):
            channels += [torch.sin(frequency * math.pi * grid), torch.cos(frequency * math.pi * grid)]
    encoding = torch.stack(channels)[None]
    return encoding + 0 * like[:, :1, :1, :1]  # broadcast over the batch


class PriorGenerator(nn.Module):
    """Noise (N x 1 x h x w) -> image (N x 3 x h x w) in [-1, 1] at the low-resolution size."""

    def __init__(self, channels: int = 64, hidden: int = 128):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(1 + POSITION_CHANNELS, channels, 3), nn.ReLU()]
        width = channels
        for _ in range(3):
            layers += [nn.Conv2d(width, hidden, 3), nn.InstanceNorm2d(hidden, affine=True), nn.ReLU()]
            width = hidden
        layers += [nn.Conv2d(width, 3, 3), nn.Tanh()]
        self.body = nn.Sequential(*layers)

    def forward(self, noise: torch.Tensor) -> torch.Tensor:
        x = torch.cat([noise, position_encoding(noise)], dim=1)
        return self.body(F.pad(x, (GENERATOR_PAD,) * 4))


def image_patches(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """N x (C k k) x L: every stride-1 k x k patch (unpadded), channel-major then row-major, as F.unfold orders them."""
    k = patch_size
    slices = [image[:, :, dy : (dy - k + 1) or None, dx : (dx - k + 1) or None] for dy in range(k) for dx in range(k)]
    return torch.stack(slices, dim=2).flatten(1, 2).flatten(2)


def reference_patches(real: torch.Tensor, patch_size: int) -> torch.Tensor:
    """P x (3 k k): the patches of the training image's low-resolution copy and of its mirror."""
    both = torch.cat([real, real.flip(3)], dim=0)
    patches = image_patches(both, patch_size)  # 2 x D x L
    return patches.transpose(1, 2).reshape(-1, patches.shape[1])


def similarity(queries: torch.Tensor, references: torch.Tensor, kind: Similarity) -> torch.Tensor:
    """N x L x P: larger is nearer. l2: q.r - |r|^2 / 2 (its argmax is the Euclidean nearest patch,
    as GPNN matches raw patches); cosine: of the unit vectors (the code's choice, on VGG features)."""
    if kind == "cosine":
        return F.normalize(queries, dim=2) @ F.normalize(references, dim=1).t()
    return queries @ references.t() - 0.5 * (references * references).sum(dim=1)[None, None, :]


def patch_transfer(image: torch.Tensor, references: torch.Tensor, patch_size: int, kind: Similarity = "l2",
                   temperature: float = 0.01, differentiable: bool = False) -> torch.Tensor:
    """Replace every k x k patch of ``image`` by its nearest reference patch and fold back, averaging overlaps.

    The image is first replicate-padded by k // 2 so every pixel is the centre of a patch (any size
    works, even one smaller than a patch); each output pixel is then the mean of the copied patches
    that cover it. ``differentiable``: the forward value is still the hard copy, the
    gradient that of softmax(similarity / temperature) (the paper's soft assignment, straight through).
    """
    queries = padded_patches(image, patch_size)
    scores = similarity(queries, references, kind)
    chosen = references[scores.argmax(dim=2)]  # N x L x D
    if differentiable:
        soft = torch.softmax(scores / temperature, dim=2) @ references
        chosen = soft + (chosen - soft).detach()
    return fold_patches(chosen, image.shape, patch_size)


def padded_patches(image: torch.Tensor, patch_size: int) -> torch.Tensor:
    """N x (h w) x (C k k): the k x k patch centred on every pixel of ``image``, replicate-padded by k // 2."""
    pad = patch_size // 2
    padded = F.pad(image, (pad, pad, pad, pad), mode="replicate")
    return image_patches(padded, patch_size).transpose(1, 2)


def fold_patches(chosen: torch.Tensor, shape: torch.Size, patch_size: int) -> torch.Tensor:
    """N x C x h x w (``shape``) from the N x (h w) x (C k k) patches centred on its pixels: each pixel the mean of the copies covering it."""
    k, pad = patch_size, patch_size // 2
    batch, channels, height, width = shape
    parts = chosen.transpose(1, 2).reshape(batch, channels, k * k, height, width)
    ones = torch.ones_like(parts[:1, :1, 0])
    total = sum(F.pad(parts[:, :, dy * k + dx], (dx, k - 1 - dx, dy, k - 1 - dy)) for dy in range(k) for dx in range(k))
    count = sum(F.pad(ones, (dx, k - 1 - dx, dy, k - 1 - dy)) for dy in range(k) for dx in range(k))
    # k^2 copies cover a pixel inside, fewer near the border.
    folded = total / count
    return folded[:, :, pad : folded.shape[2] - pad, pad : folded.shape[3] - pad]


class Restoration(nn.Module):
    """The 8x upscaler: conv blocks, then 3 x (conv to 4C, PixelShuffle x2, ReLU), conv to RGB, tanh.

    ``residual``: output = clamp(bilinear 8x upsampling of the input + net(x), -1, 1), a departure
    that lets a short CPU run start from a blurred image instead of grey; off: tanh(net(x)), the
    code's plain network. ``doublings``: how many x2 PixelShuffle stages (3: the restoration's 8x;
    1: the high-resolution upsampler, applied once for 2x and twice for 4x).
    """

    FACTOR = 8  # the restoration's factor (three doublings)

    def __init__(self, channels: int = 64, blocks: int = 4, residual: bool = True, doublings: int = 3):
        super().__init__()
        self.residual = residual
        self.factor = 2**doublings
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.ReLU()]
        for _ in range(blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU()]
        for _ in range(doublings):
            layers += [nn.Conv2d(channels, 4 * channels, 3, padding=1), nn.PixelShuffle(2), nn.ReLU()]
        layers.append(nn.Conv2d(channels, 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        out = self.body(image)
        if self.residual:
            up = F.interpolate(image, scale_factor=float(self.factor), mode="bilinear", align_corners=False)
            return torch.clamp(up + out, -1.0, 1.0)
        return torch.tanh(out)


class MultiScaleDiscriminator(nn.Module):
    """A head (two padded 3x3 convs), then one branch per dilation (3x3 convs of that dilation, padded
    to keep the size) ending in one channel; the branches' maps are summed into one score map."""

    DILATIONS = (1, 2, 3)

    def __init__(self, channels: int = 64):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(3, channels, 3, padding=1), nn.LeakyReLU(0.2), nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(0.2))
        self.branches = nn.ModuleList(
            nn.Sequential(nn.Conv2d(channels, channels, 3, padding=d, dilation=d), nn.LeakyReLU(0.2), nn.Conv2d(channels, 1, 3, padding=d, dilation=d))
            for d in self.DILATIONS
        )

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        features = self.head(image)
        return sum(branch(features) for branch in self.branches)


class GlobalDiscriminator(nn.Module):
    """The generator phase's critic, as the code's DEPNet discriminator: a 3x3 conv, then three stride-2
    3x3 convs doubling the channels (each with InstanceNorm and LeakyReLU 0.2), flattened into one
    linear score. Flattened, not pooled: the critic sees where things are, so it judges the layout
    of the whole low-resolution image (a pooled one only compares patch statistics, which a
    collapsed generator matches). The flattening fixes the input size: the low-resolution size."""

    STRIDED = 3

    def __init__(self, channels: int, size: tuple[int, int]):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels, 3, padding=1), nn.InstanceNorm2d(channels), nn.LeakyReLU(0.2)]
        width, (height, breadth) = channels, size
        for _ in range(self.STRIDED):
            height, breadth = (height + 1) // 2, (breadth + 1) // 2
            # InstanceNorm of a single pixel is undefined (tiny presets reach 1 x 1): none there.
            norm = nn.InstanceNorm2d(2 * width) if height * breadth > 1 else nn.Identity()
            layers += [nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), norm, nn.LeakyReLU(0.2)]
            width *= 2
        self.body = nn.Sequential(*layers)
        self.linear = nn.Linear(width * height * breadth, 1)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.linear(self.body(image).flatten(1))
