"""Seed 004's self-supervised discriminator: a patch critic that also decodes the real image.

The critic is ConSinGAN's five unpadded 3x3 convs (head, 3 body convs, tail). Two decoders read
the feature map before the tail (``features``): one decodes the whole real image, the other a
random half-height x half-width crop of it from the same crop of the feature map. They are trained
on real images only, with the critic, through ``L_D = -L_adv + beta x L_rec`` (beta = 5): the
decoders make the critic's features describe both the overall structure and the detail of the
image. They are part of training only; nothing of them reaches the model or the artifact.

The paper gives neither the decoders' architecture nor the loss norm: each is a small upsampling
conv decoder here (bilinear resize of the features to the target size, conv 3x3 C->C, LeakyReLU,
conv 3x3 C->3, tanh; padded, so the decoded image has the target's size), and the loss is the MSE
of each (``l1`` is a setting). The crop is aligned exactly (its features are those centred on its
pixels, so the resize is the identity but on the tiniest stages); the whole-image decoder
stretches the map, ``feature_border`` px smaller per side, over the whole image, so a feature
lands up to that far (4 px at the defaults) from the pixel it is centred on, nearest the edges: a
decoder learns a fixed shift like that, and the paper asks only for "the processing" of f.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

from sigctl.core.models.consingan_networks import IMAGE_CHANNELS, ConSinGANDiscriminator, init_weights
from sigctl.training.losses import WGANGP, discriminator_wgan_loss, gradient_penalty

DecoderLoss = Literal["mse", "l1"]


class Box(NamedTuple):
    """Rows ``top .. top + height - 1`` and columns ``left .. left + width - 1``."""

    top: int
    left: int
    height: int
    width: int

    def of(self, tensor: torch.Tensor) -> torch.Tensor:
        return tensor[:, :, self.top : self.top + self.height, self.left : self.left + self.width]


def _crop_axis(size: int, border: int, draw) -> tuple[int, int, int, int]:
    """One axis of ``crop_boxes``: (image start, crop length, feature start, feature length)."""
    crop = max(1, size // 2)
    features = size - 2 * border
    low, high = border, size - border - crop
    if high >= low:
        # Feature position f is centred on image pixel f + border: the crop's own features.
        start = draw(low, high)
        return start, crop, start - border, crop
    # The crop is wider than the feature map (a tiny stage): the feature rows the crop overlaps.
    start = draw(0, size - crop)
    feature_start = min(max(start - border, 0), features - 1)
    feature_end = max(min(start + crop - border, features), feature_start + 1)
    return start, crop, feature_start, feature_end - feature_start


def crop_boxes(height: int, width: int, border: int, generator: torch.Generator | None = None) -> tuple[Box, Box]:
    """A random half-height x half-width crop of an image, and the same crop of its feature map.

    The feature map is the critic's before its tail: ``border`` px smaller per side than the image,
    feature (r, c) centred on pixel (r + border, c + border). The crop is drawn so its feature crop
    lies inside the map (uniformly over those positions); on a stage too small for that, the crop is
    uniform and its feature crop the (clipped, non-empty) rows and columns it overlaps.

    Draws from torch's CPU generator (``generator`` or the global one), so a resumed run draws the same.
    """

    def draw(low: int, high: int) -> int:
        return int(torch.randint(low, high + 1, (1,), generator=generator))

    top, crop_height, feature_top, feature_height = _crop_axis(height, border, draw)
    left, crop_width, feature_left, feature_width = _crop_axis(width, border, draw)
    return Box(top, left, crop_height, crop_width), Box(feature_top, feature_left, feature_height, feature_width)


def _decoder(channels: int, leaky_slope: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(leaky_slope), nn.Conv2d(channels, IMAGE_CHANNELS, 3, padding=1), nn.Tanh()
    )


class DecodingDiscriminator(ConSinGANDiscriminator):
    """ConSinGAN's patch critic with the two reconstruction decoders (``whole_decoder``, ``crop_decoder``)."""

    def __init__(self, channels: int = 64, kernel_size: int = 3, layers: int = 3, leaky_slope: float = 0.05, batch_norm: bool = False):
        super().__init__(channels, kernel_size, layers, leaky_slope, batch_norm)
        # Head and body convs, unpadded: what the feature map lacks per side.
        self.feature_border = (layers + 1) * (kernel_size - 1) // 2
        self.whole_decoder = _decoder(channels, leaky_slope)
        self.crop_decoder = _decoder(channels, leaky_slope)
        init_weights(self.whole_decoder)
        init_weights(self.crop_decoder)

    def features(self, image: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, C, H - 2 feature_border, W - 2 feature_border)."""
        return self.body(self.head(image))

    def score(self, features: torch.Tensor) -> torch.Tensor:
        return self.tail(features)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.score(self.features(image))

    def decode(self, decoder: nn.Module, features: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        return decoder(F.interpolate(features, size=size, mode="bilinear", align_corners=False))


class DecoderReconstruction:
    """L_rec: how far the two decoders are from the whole real image and from a random crop of it."""

    def __init__(self, norm: DecoderLoss = "mse"):
        self.distance = F.mse_loss if norm == "mse" else F.l1_loss

    def __call__(self, discriminator: DecodingDiscriminator, real: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        height, width = real.shape[2:]
        whole = self.distance(discriminator.decode(discriminator.whole_decoder, features, (height, width)), real)
        image_box, feature_box = crop_boxes(height, width, discriminator.feature_border)
        crop = discriminator.decode(discriminator.crop_decoder, feature_box.of(features), (image_box.height, image_box.width))
        return whole + self.distance(crop, image_box.of(real))


class SelfSupervisedWGANGP(WGANGP):
    """WGAN-GP whose critic loss adds beta x the decoders' reconstruction of the real image (eq. 6).

    ``decoder_weight`` 0 is plain WGAN-GP (the decoders are not run, and get no gradient).
    """

    def __init__(self, gradient_penalty_weight: float, decoder_weight: float = 5.0, decoder_loss: DecoderLoss = "mse"):
        super().__init__(gradient_penalty_weight)
        self.decoder_weight = decoder_weight
        self.reconstruction = DecoderReconstruction(decoder_loss)

    def discriminator_loss(
        self, discriminator: DecodingDiscriminator, real: torch.Tensor, fake: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Scored in WGANGP's order (real, fake, interpolates); the real's features are computed once."""
        real_features = discriminator.features(real)
        real_scores = discriminator.score(real_features)
        fake_scores = discriminator(fake)
        penalty = gradient_penalty(discriminator, real, fake)
        loss = discriminator_wgan_loss(real_scores, fake_scores) + self.gradient_penalty_weight * penalty
        logged = {"gp": penalty.detach()}
        if self.decoder_weight:
            reconstruction = self.reconstruction(discriminator, real, real_features)
            loss = loss + self.decoder_weight * reconstruction
            logged["d_rec"] = reconstruction.detach()
        return loss, {"d": loss.detach(), **logged}
