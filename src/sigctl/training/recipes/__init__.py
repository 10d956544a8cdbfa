"""Training recipes. Each plugs into the shared stage loop (``sigctl.training.loop``)."""

from __future__ import annotations

from sigctl.training.recipes.base import Recipe, TrainingContext
from sigctl.training.recipes.singan import SinGANRecipe

RECIPES: dict[str, type[Recipe]] = {"singan": SinGANRecipe}


def make_recipe(context: TrainingContext) -> Recipe:
    return RECIPES[context.settings.recipe](context)


__all__ = ["RECIPES", "Recipe", "TrainingContext", "make_recipe"]
