"""Training recipes. Each plugs into the shared stage loop (``sigctl.training.loop``)."""

from __future__ import annotations

from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.recipes.consingan import ConSinGANRecipe
from sigctl.training.recipes.involution import InvolutionRecipe
from sigctl.training.recipes.petsgan import PetsGANRecipe
from sigctl.training.recipes.singan import SinGANRecipe

# Super-resolution is a SinGAN setting (super_resolution_factor: exact scale factor, reconstruction
# weight 100), applied by sigctl.core.super_resolution.
RECIPES: dict[str, type[Recipe]] = {"singan": SinGANRecipe, "consingan": ConSinGANRecipe, "involution": InvolutionRecipe, "petsgan": PetsGANRecipe}


def make_recipe(context: TrainingContext) -> Recipe:
    return RECIPES[context.settings.recipe](context)


__all__ = ["RECIPES", "Recipe", "TrainingContext", "make_recipe"]
