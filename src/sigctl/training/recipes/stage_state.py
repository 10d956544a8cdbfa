"""The part of a GAN recipe's resume state every recipe of the family has inside a stage.

A stage trains a discriminator with its Adam, a generator's Adam, their learning-rate schedules,
and draws training noise and torch random numbers; recipes name them alike (``discriminator``,
``generator_optimizer``, ``discriminator_optimizer``, ``schedulers``, ``noise``, and between stages
``previous_discriminator``, ``stage_in_progress`` and ``resume_stage``), so saving and restoring
them is written once here and each recipe adds what is its own.
"""

from __future__ import annotations

from typing import Any

from sigctl.training.rng import restore_rng_state, rng_state


def gan_stage_state(recipe) -> dict[str, Any]:
    return {
        "discriminator": recipe.discriminator.state_dict(),
        "generator_optimizer": recipe.generator_optimizer.state_dict(),
        "discriminator_optimizer": recipe.discriminator_optimizer.state_dict(),
        "schedulers": [scheduler.state_dict() for scheduler in recipe.schedulers],
        "noise_draws": recipe.noise.draws,
        "rng": rng_state(recipe.context.device),
    }


def load_gan_recipe_state(recipe, model, state: dict[str, Any]) -> None:
    """A GAN recipe's ``load_state_dict`` once it has built ``model`` empty, in the saved shape:
    the model so far, the previous stage's discriminator, and (when the state is inside a stage)
    the stage itself through the recipe's ``resume_stage``."""
    device = recipe.context.device
    model.load_state_dict(state["model"], strict=True)
    recipe.model = model.to(device)
    previous = state.get("previous_discriminator")
    recipe.previous_discriminator = None if previous is None else {k: v.to(device) for k, v in previous.items()}
    recipe.stage_in_progress = None
    if state["stage_in_progress"] is not None:
        recipe.resume_stage(state["stage_in_progress"], state["stage"])


def restore_gan_stage_state(recipe, saved: dict[str, Any]) -> None:
    """Load what ``gan_stage_state`` saved into networks and optimisers just rebuilt for the stage.

    torch's random state goes last: building the networks drew from it.
    """
    recipe.noise.draws = saved["noise_draws"]
    recipe.discriminator.load_state_dict(saved["discriminator"])
    recipe.generator_optimizer.load_state_dict(saved["generator_optimizer"])
    recipe.discriminator_optimizer.load_state_dict(saved["discriminator_optimizer"])
    for scheduler, scheduler_state in zip(recipe.schedulers, saved["schedulers"], strict=True):
        scheduler.load_state_dict(scheduler_state)
    restore_rng_state(saved["rng"], recipe.context.device)
