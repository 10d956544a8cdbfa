"""Seed 004's recipe: ConSinGAN's training, with dilated involutions in the generator and a
self-supervised critic (two reconstruction decoders, ``L_D = -L_adv + beta x L_rec``).

Everything about how it trains is ``ConSinGANRecipe``'s (stage schedule, concurrent stages and
their learning rates, warm start, amplitudes, the reconstruction path, resume, fine-tuning); this
recipe only says what it is made of. Its default of 500 iterations per stage is in its settings.
"""

from __future__ import annotations

from typing import Any

from sigctl.config import InvolutionSettings
from sigctl.core.models.involution import InvolutionModel
from sigctl.core.scales import PyramidLayout
from sigctl.training import losses
from sigctl.training.recipes.consingan import ConSinGANRecipe
from sigctl.training.self_supervised import DecodingDiscriminator, SelfSupervisedWGANGP


class InvolutionRecipe(ConSinGANRecipe):
    model_type = InvolutionModel

    @classmethod
    def config_values(cls, settings: InvolutionSettings, layout: PyramidLayout) -> dict[str, Any]:
        network = settings.network
        return {
            **super().config_values(settings, layout),
            "dilation": network.dilation, "groups": network.groups, "reduction": network.reduction,
            "padding": network.padding, "involution_head_tail": network.involution_head_tail,
        }

    def build_losses(self) -> tuple[SelfSupervisedWGANGP, losses.ReconstructionMSE]:
        loss = self.settings.loss
        adversarial = SelfSupervisedWGANGP(loss.gradient_penalty_weight, loss.decoder_weight, loss.decoder_loss)
        return adversarial, losses.ReconstructionMSE(loss.reconstruction_weight)

    def new_discriminator(self) -> DecodingDiscriminator:
        network = self.settings.network
        return DecodingDiscriminator(network.channels, network.kernel_size, network.discriminator_layers, network.leaky_relu_slope)
